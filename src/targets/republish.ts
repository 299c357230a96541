import type { ArgValue, RepublishTargetSpec } from '../config/types.js';
import { forwardedHeaders, forwardedProperties } from '../delivery/copies.js';
import { ack, deadLetter, type Outcome, retry } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import { isWarrenError } from '../errors.js';
import type { Handler, TargetModule } from './types.js';

/** `{{routingKey}}` is the message's original routing key; anything else is literal. */
export function renderRoutingKey(template: string, d: Pick<Delivery, 'routingKey'>): string {
  return template.replaceAll('{{routingKey}}', d.routingKey);
}

function createRepublish(spec: RepublishTargetSpec, deps: Parameters<TargetModule['create']>[1]): Handler {
  return async function republish(d: Delivery): Promise<Outcome> {
    try {
      await deps.publisher.publish(
        spec.exchange,
        renderRoutingKey(spec.routingKey, d),
        d.content,
        forwardedProperties(d.properties, d.id, forwardedHeaders(d, spec.headers), spec.persistent),
        { mandatory: spec.mandatory },
      );
      return ack();
    } catch (err) {
      // Headers amqplib cannot encode again fail every try alike: a permanent failure.
      if (isWarrenError(err, 'WARREN_E_UNENCODABLE')) return deadLetter((err as Error).message);
      return retry(`republish to ${spec.exchange || '(default exchange)'}: ${(err as Error).message}`);
    }
  };
}

export const republishTarget: TargetModule<'republish'> = {
  kind: 'republish',
  description: 'Publish the message to another exchange, with publisher confirms.',
  schema: {
    type: 'object',
    description: 'Publish to another exchange and ack only after the broker confirmed it.',
    additionalProperties: false,
    required: ['exchange'],
    properties: {
      exchange: {
        type: 'string',
        amqpName: 'reference',
        description: 'Target exchange; "" is the default exchange.',
      },
      routingKey: {
        type: 'string',
        description:
          'Literal, or a template with `{{routingKey}}` (the original key). Default `{{routingKey}}`.',
      },
      headers: {
        type: 'object',
        description: 'Headers added to the published message.',
        amqpKeys: 'field',
        additionalProperties: { type: ['string', 'number', 'boolean'] },
      },
      persistent: { type: 'boolean', description: 'delivery-mode 2. Default true.' },
      mandatory: {
        type: 'boolean',
        description: 'Unroutable is a failure (retried, then dead-lettered). Default true.',
      },
    },
  },
  examples: [
    { exchange: 'archive', routingKey: 'audit.{{routingKey}}' },
    { exchange: 'events.eu', headers: { region: 'eu' }, persistent: true, mandatory: true },
  ],
  normalize(raw) {
    return {
      kind: 'republish',
      exchange: raw.exchange as string,
      routingKey: (raw.routingKey as string | undefined) ?? '{{routingKey}}',
      headers: (raw.headers as Record<string, ArgValue> | undefined) ?? {},
      persistent: (raw.persistent as boolean | undefined) ?? true,
      mandatory: (raw.mandatory as boolean | undefined) ?? true,
    };
  },
  create: (spec, deps) => createRepublish(spec, deps),
};
