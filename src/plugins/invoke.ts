import type { PluginRef } from '../config/types.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginRun, PluginSandbox } from '../sandbox/isolate.js';
import { pluginEvents } from '../telemetry/plugin-events.js';
import { toPluginMessage } from './message.js';

/** Runs a plugin on a delivery, timed and counted. */
export async function invokePlugin(sandbox: PluginSandbox, ref: PluginRef, d: Delivery): Promise<PluginRun> {
  const started = performance.now();
  const run = await sandbox.run(toPluginMessage(d), {
    route: d.route,
    attempt: d.attempt,
    now: new Date().toISOString(),
  });
  pluginEvents.called(ref.name, (performance.now() - started) / 1000, run.kind);
  return run;
}
