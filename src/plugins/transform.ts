import type { PluginRef } from '../config/types.js';
import type { Outcome } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginSandbox } from '../sandbox/isolate.js';
import type { Handler } from '../targets/types.js';
import { invokePlugin } from './invoke.js';
import { applyOutput } from './message.js';
import { combineOutcomes, faultOutcome } from './outcome.js';

/**
 * A `transform` step in front of a target: null drops, a message goes on to the target in place
 * of the original, an array sends each copy to the target (all must succeed before the ack).
 */
export function withTransform(sandbox: PluginSandbox, ref: PluginRef, target: Handler): Handler {
  return async function transformThenDeliver(d: Delivery): Promise<Outcome> {
    const run = await invokePlugin(sandbox, ref, d);
    if (run.kind !== 'continue') return faultOutcome(ref.name, run);
    if (run.messages.length === 0)
      return { kind: 'drop', reason: `transform ${ref.name} returned no messages` };
    if (!run.fanOut) return target(applyOutput(d, run.messages[0]!, undefined));
    const outcomes = await Promise.all(run.messages.map((out, i) => target(applyOutput(d, out, i))));
    return combineOutcomes(outcomes);
  };
}
