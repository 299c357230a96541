import type { RepublishTargetSpec } from '../config/types.js';
import { forwardedHeaders, forwardedProperties } from '../delivery/copies.js';
import { ack, deadLetter, type Outcome, retry } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import { isWarrenError } from '../errors.js';
import { republishExamples, republishSchema } from './republish-schema.js';
import type { Handler, TargetDeps, TargetModule } from './types.js';

/** `{{routingKey}}` is the message's original routing key; anything else is literal. */
export function renderRoutingKey(template: string, d: Pick<Delivery, 'routingKey'>): string {
  return template.replaceAll('{{routingKey}}', d.routingKey);
}

function createRepublish(spec: RepublishTargetSpec, deps: TargetDeps): Handler {
  return async function republish(d: Delivery): Promise<Outcome> {
    const routingKey = renderRoutingKey(spec.routingKey, d);
    const headers = forwardedHeaders(d, spec.headers);
    // Traced, the copy carries its producer span's context: the next route's span is its child.
    const span = d.span === undefined ? undefined : d.span.publish(spec.exchange, routingKey, d.id);
    if (span !== undefined) headers.traceparent = span.traceparent;
    try {
      await deps.publisher.publish(
        spec.exchange,
        routingKey,
        d.content,
        forwardedProperties(d.properties, d.id, headers, spec.persistent),
        { mandatory: spec.mandatory },
      );
      span?.end();
      return ack();
    } catch (err) {
      span?.end((err as Error).message);
      // Headers amqplib cannot encode again fail every try alike: a permanent failure.
      if (isWarrenError(err, 'WARREN_E_UNENCODABLE')) return deadLetter((err as Error).message);
      return retry(`republish to ${spec.exchange || '(default exchange)'}: ${(err as Error).message}`);
    }
  };
}

export const republishTarget: TargetModule<'republish', typeof republishSchema> = {
  kind: 'republish',
  description: 'Publish the message to another exchange, with publisher confirms.',
  schema: republishSchema,
  examples: republishExamples,
  normalize(raw) {
    return {
      kind: 'republish',
      exchange: raw.exchange,
      routingKey: raw.routingKey ?? '{{routingKey}}',
      headers: raw.headers ?? {},
      persistent: raw.persistent ?? true,
      mandatory: raw.mandatory ?? true,
    };
  },
  create: (spec, deps) => createRepublish(spec, deps),
};
