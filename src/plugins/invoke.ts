import type { PluginRef } from '../config/types.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginSandbox } from '../sandbox/isolate.js';
import type { PluginRun } from '../sandbox/types.js';
import { pluginEvents } from '../telemetry/plugin-events.js';
import { toPluginMessage } from './message.js';

let nowMs = 0;
let nowText = '';

/** `ctx.now`, formatted once per millisecond rather than once per message. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowMs = ms;
    nowText = new Date(ms).toISOString();
  }
  return nowText;
}

/** Runs a plugin on a delivery, timed and counted. */
export function invokePlugin(sandbox: PluginSandbox, ref: PluginRef, d: Delivery): Promise<PluginRun> {
  const started = performance.now();
  const span = d.span === undefined ? undefined : d.span.plugin(ref.name);
  return sandbox
    .run(toPluginMessage(d), { route: d.route, attempt: d.attempt, now: isoNow(), jsonBodies: true })
    .then((run) => {
      pluginEvents.called(ref.name, (performance.now() - started) / 1000, run.kind);
      if (span !== undefined) span.end(isFault(run) ? run.message : undefined);
      return run;
    });
}

function isFault(run: PluginRun): run is Extract<PluginRun, { message: string }> {
  return run.kind === 'error' || run.kind === 'timeout' || run.kind === 'memory';
}
