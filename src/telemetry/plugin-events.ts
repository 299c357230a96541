import { metrics } from './metrics.js';

/** Labelled children, cached: prom-client hashes a label object on every call. */
const durations = new Map<string, ReturnType<typeof metrics.pluginDuration.labels>>();

/** Plugin calls: their duration and fault metrics (the fault itself is logged with the delivery it failed). */
export const pluginEvents = {
  called(plugin: string, seconds: number, kind: string): void {
    let duration = durations.get(plugin);
    if (duration === undefined) {
      duration = metrics.pluginDuration.labels({ plugin });
      durations.set(plugin, duration);
    }
    duration.observe(seconds);
    if (kind === 'error' || kind === 'timeout' || kind === 'memory')
      metrics.pluginErrors.inc({ plugin, kind });
  },
};
