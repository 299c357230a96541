import type { Logger } from 'pino';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { ReloadReport } from '../runtime/report.js';
import { registry } from './metrics.js';

const reloadMetrics = {
  configInfo: new Gauge({
    name: 'warren_config_info',
    help: 'The configuration version (hash of the route files) running now: 1 for the current version.',
    labelNames: ['version'] as const,
    registers: [registry],
  }),
  reloads: new Counter({
    name: 'warren_reload_total',
    help: 'Reloads by result: applied, partial (some routes kept their previous version), invalid, unchanged.',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  reloadDuration: new Histogram({
    name: 'warren_reload_duration_seconds',
    help: 'Time from the start of a reload to its last route applied (drains of old consumers excluded).',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
};

/** Reload events: each writes its log line and updates its metrics together. */
export const reloadEvents = {
  configVersion(version: string): void {
    reloadMetrics.configInfo.reset();
    reloadMetrics.configInfo.set({ version }, 1);
  },

  reloaded(log: Logger, report: ReloadReport): void {
    reloadMetrics.reloads.inc({ result: report.result });
    reloadMetrics.reloadDuration.observe(report.durationMs / 1000);
    if (report.result !== 'invalid') this.configVersion(report.version);
    const fields = {
      event: 'reload',
      trigger: report.trigger,
      result: report.result,
      version: report.version,
      previousVersion: report.previousVersion,
      ms: report.durationMs,
      routes: report.routes.map((r) => `${r.route}:${r.change}${r.ok ? '' : ':failed'}`),
    };
    if (report.result === 'invalid') {
      for (const issue of report.issues ?? []) {
        log.error({ event: 'config_invalid', code: 'WARREN_E_CONFIG_INVALID', issue }, issue);
      }
      log.error(fields, 'reload refused: the configuration is invalid; the running routes are unchanged');
    } else if (report.result === 'partial') {
      for (const r of report.routes.filter((x) => !x.ok)) {
        log.error({ event: 'route_reload_failed', route: r.route, error: r.error }, r.error?.message ?? '');
      }
      log.warn(fields, 'reload applied in part; failed routes keep their previous version');
    } else if (report.result === 'applied') {
      log.info(fields, 'reload applied');
    } else {
      log.debug(fields, 'reload: nothing changed');
    }
  },

  drained(log: Logger, route: string, unfinished: number, reason: string): void {
    log.info(
      { event: 'consumer_drained', route, unfinished, reason },
      unfinished
        ? `old consumer of ${route} closed with ${unfinished} deliveries unfinished (requeued)`
        : `old consumer of ${route} drained and closed`,
    );
  },
};
