import { Counter, Histogram } from 'prom-client';
import { registry } from './metrics.js';

const pluginMetrics = {
  duration: new Histogram({
    name: 'warren_plugin_duration_seconds',
    help: 'Time of one plugin call, by plugin file.',
    labelNames: ['plugin'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
  errors: new Counter({
    name: 'warren_plugin_errors_total',
    help: 'Plugin calls that failed, by plugin file and kind (error, timeout, memory).',
    labelNames: ['plugin', 'kind'] as const,
    registers: [registry],
  }),
};

/** Labelled children, cached: prom-client hashes a label object on every call. */
const durations = new Map<string, ReturnType<typeof pluginMetrics.duration.labels>>();

/** Plugin calls: the metric and, for faults, the caller's log line come from here. */
export const pluginEvents = {
  called(plugin: string, seconds: number, kind: string): void {
    let duration = durations.get(plugin);
    if (duration === undefined) {
      duration = pluginMetrics.duration.labels({ plugin });
      durations.set(plugin, duration);
    }
    duration.observe(seconds);
    if (kind === 'error' || kind === 'timeout' || kind === 'memory')
      pluginMetrics.errors.inc({ plugin, kind });
  },
};
