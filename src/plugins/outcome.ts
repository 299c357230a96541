import { deadLetter, drop, type Outcome, retry } from '../delivery/outcome.js';
import type { PluginRun } from '../sandbox/types.js';

/** A plugin fault as a delivery outcome: errors and timeouts retry; a memory breach dead-letters,
 * since the same message would exhaust the rebuilt isolate again. */
export function faultOutcome(plugin: string, run: Exclude<PluginRun, { kind: 'continue' }>): Outcome {
  switch (run.kind) {
    case 'drop':
      return drop(`plugin ${plugin} returned null`);
    case 'error':
      return retry(`plugin ${plugin} threw: ${run.message}`);
    case 'timeout':
      return retry(`plugin ${plugin} timed out: ${run.message}`);
    case 'memory':
      return deadLetter(`plugin ${plugin} exceeded its memory limit: ${run.message}`);
  }
}

/** One outcome for several copies (fan-out): any retry retries the message, then any dead letter;
 * otherwise it is done. A retry repeats copies that succeeded: their ids let receivers dedupe. */
export function combineOutcomes(outcomes: Outcome[]): Outcome {
  const retried = outcomes.find((o) => o.kind === 'retry');
  if (retried) return retried;
  const dead = outcomes.find((o) => o.kind === 'dead-letter');
  if (dead) return dead;
  return { kind: 'ack' };
}
