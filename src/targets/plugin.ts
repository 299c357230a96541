import type { Options } from 'amqplib';
import { copyProblem } from '../amqp/encode.js';
import type { PluginTargetSpec } from '../config/types.js';
import { forwardedHeaders, forwardedProperties } from '../delivery/copies.js';
import { ack, deadLetter, drop, type Outcome, retry } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import { isWarrenError } from '../errors.js';
import { invokePlugin } from '../plugins/invoke.js';
import { applyOutput } from '../plugins/message.js';
import { faultOutcome } from '../plugins/outcome.js';
import { normalizePluginRef } from '../plugins/ref.js';
import { pluginTargetExamples, pluginTargetSchema } from './plugin-schema.js';
import type { Handler, TargetDeps, TargetModule } from './types.js';

/**
 * The plugin is the target: whatever it returns is published — to its `exchange` and `routingKey`,
 * by default the message's original ones — every copy confirmed before the source is acked.
 */
async function createPluginTarget(spec: PluginTargetSpec, deps: TargetDeps): Promise<Handler> {
  const ref = spec.plugin;
  const sandbox = await deps.sandbox(ref);
  return async function runPlugin(d: Delivery): Promise<Outcome> {
    const run = await invokePlugin(sandbox, ref, d);
    if (run.kind !== 'continue') return faultOutcome(ref.name, run);
    if (run.messages.length === 0) return drop(`plugin ${ref.name} returned no messages`);
    const copies = run.messages.map((out, i) => {
      const copy = applyOutput(d, out, run.fanOut ? i : undefined);
      const options = forwardedProperties(copy.properties, copy.id, forwardedHeaders(copy), true);
      return { copy, options };
    });
    // A fan-out is all or nothing where it can be: no copy goes out when one of them cannot.
    if (copies.length > 1) {
      for (const { copy, options } of copies) {
        const problem = copyProblem(copy.exchange, copy.routingKey, options);
        if (problem) return deadLetter(`plugin ${ref.name} output ${copy.id}: ${problem}`);
      }
    }
    try {
      await Promise.all(copies.map(({ copy, options }) => publishCopy(deps, copy, options)));
      return ack();
    } catch (err) {
      // An output amqplib cannot encode fails every try alike: a permanent failure.
      if (isWarrenError(err, 'WARREN_E_UNENCODABLE'))
        return deadLetter(`plugin ${ref.name} output: ${(err as Error).message}`);
      // Some copies may have been published: the retry publishes them again with the same ids.
      return retry(`plugin ${ref.name} output: ${(err as Error).message}`);
    }
  };
}

/** One output, confirmed; traced, under a producer span whose context the copy carries. */
async function publishCopy(deps: TargetDeps, copy: Delivery, options: Options.Publish): Promise<void> {
  const span =
    copy.span === undefined ? undefined : copy.span.publish(copy.exchange, copy.routingKey, copy.id);
  if (span === undefined) {
    await deps.publisher.publish(copy.exchange, copy.routingKey, copy.content, options, { mandatory: true });
    return;
  }
  (options.headers as Record<string, unknown>).traceparent = span.traceparent;
  try {
    await deps.publisher.publish(copy.exchange, copy.routingKey, copy.content, options, { mandatory: true });
    span.end();
  } catch (err) {
    span.end((err as Error).message);
    throw err;
  }
}

export const pluginTarget: TargetModule<'plugin', typeof pluginTargetSchema> = {
  kind: 'plugin',
  description: 'Run a sandboxed JavaScript plugin and publish what it returns.',
  schema: pluginTargetSchema,
  examples: pluginTargetExamples,
  normalize(raw) {
    return { kind: 'plugin', plugin: normalizePluginRef(raw) };
  },
  create: (spec, deps) => createPluginTarget(spec, deps),
};
