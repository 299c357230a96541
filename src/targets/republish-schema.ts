import type { FromSchema } from 'json-schema-to-ts';
import { receiverSchemaKey } from './contract.js';

/** The `to.republish` schema and its examples. */
export const republishSchema = {
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
    schema: receiverSchemaKey,
  },
} as const;

/** `to.republish` as the schema admits it (before defaults). */
export type RawRepublish = FromSchema<typeof republishSchema>;

export const republishExamples: RawRepublish[] = [
  { exchange: 'archive', routingKey: 'audit.{{routingKey}}' },
  { exchange: 'events.eu', headers: { region: 'eu' }, persistent: true, mandatory: true },
];
