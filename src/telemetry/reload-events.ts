import type { Logger } from 'pino';
import type { ReloadReport } from '../runtime/report.js';
import { metrics } from './metrics.js';

/** Reload events: each writes its log line and updates its metrics together. */
export const reloadEvents = {
  configVersion(version: string): void {
    metrics.configInfo.reset();
    metrics.configInfo.set({ version }, 1);
  },

  reloaded(log: Logger, report: ReloadReport): void {
    metrics.reloads.inc({ result: report.result });
    metrics.reloadDuration.observe(report.durationMs / 1000);
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
