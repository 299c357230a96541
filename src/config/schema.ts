import type { FromSchema } from 'json-schema-to-ts';
import { pluginRefSchema } from '../plugins/ref.js';
import { type AnyTarget, targets } from '../targets/registry.js';
import { durationSchema } from './duration.js';
import { sizeSchema } from './size.js';
import { limits } from './types.js';

/**
 * The JSON Schema of one route-file document (format v1). Built here from the pieces each target
 * declares; `schema/routes.schema.json` is this object, generated and committed (a test fails on drift).
 */
/** A queue or exchange Warren declares: 1-255 UTF-8 bytes, no control characters, not `amq.*`. */
const declaredName = { type: 'string', minLength: 1, amqpName: 'declared' } as const;
/** An exchange only bound from or pointed at: the built-in `amq.*` ones are fine. */
const name = { type: 'string', minLength: 1, amqpName: 'reference' } as const;
const argValue = { type: ['string', 'number', 'boolean'] } as const;
const argumentsMap = {
  description: 'Extra x-arguments passed to the declaration as they are.',
  type: 'object',
  amqpKeys: 'field',
  additionalProperties: argValue,
} as const;

const binding = {
  type: 'object',
  description: 'A binding from a source exchange: by routing key (or pattern), or by header match.',
  additionalProperties: false,
  required: ['exchange'],
  properties: {
    exchange: { ...name, description: 'The source exchange.' },
    key: {
      type: 'string',
      amqpName: 'field',
      description: 'Routing key or topic pattern, at most 255 bytes; default "".',
    },
    headers: {
      type: 'object',
      amqpKeys: 'field',
      description: 'Header match for a headers exchange; `x-match` is all (default) or any.',
      properties: { 'x-match': { enum: ['all', 'any', 'all-with-x', 'any-with-x'] } },
      additionalProperties: argValue,
    },
  },
} as const;

const bindList = { type: 'array', items: binding } as const;

const exchange = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: ['direct', 'fanout', 'topic', 'headers'] },
    durable: { type: 'boolean', description: 'Default true.' },
    autoDelete: { type: 'boolean', description: 'Default false.' },
    internal: { type: 'boolean', description: 'Only other exchanges may publish to it. Default false.' },
    alternateExchange: { ...name, description: 'Where messages go that no binding matches.' },
    arguments: argumentsMap,
    bind: {
      ...bindList,
      description: 'Exchange-to-exchange bindings: this exchange receives from each source.',
    },
  },
} as const;

/** How many nodes hold a quorum queue: its x-quorum-initial-group-size, fixed when it is created. */
const replicas = {
  type: 'integer',
  minimum: 1,
  maximum: limits.amqpShort,
  description:
    "x-quorum-initial-group-size of a quorum queue (its members, set at creation). Default: the broker's.",
} as const;

const queue = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: ['quorum', 'classic'], description: 'Default quorum.' },
    replicas,
    arguments: argumentsMap,
    bind: bindList,
  },
} as const;

const headerValue = {
  anyOf: [
    argValue,
    { type: 'array', minItems: 1, items: argValue, description: 'Any one of these values.' },
    {
      type: 'object',
      additionalProperties: false,
      required: ['exists'],
      properties: { exists: { type: 'boolean' } },
      description: '`{ exists: true }`: the header is present; `false`: it is absent.',
    },
  ],
} as const;

const topicPattern = { type: 'string', minLength: 1 } as const;

const when = {
  type: 'object',
  description:
    'Consumer-side filter, evaluated before the target: a delivery that does not match is acked and counted as `filtered`.',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    routingKey: {
      description:
        'Topic pattern(s) the original routing key must match (`*` one word, `#` zero or more); a list matches any.',
      anyOf: [topicPattern, { type: 'array', minItems: 1, items: topicPattern }],
    },
    headers: {
      type: 'object',
      description: 'Every header condition must hold: a value, a list (any of), or `{ exists: true|false }`.',
      minProperties: 1,
      additionalProperties: headerValue,
    },
  },
} as const;

const rateLimit = {
  type: 'object',
  description:
    'Token bucket per replica: at most `rate` deliveries started every `per`, `burst` at once. Throttling only delays; nothing is acked or requeued to throttle.',
  additionalProperties: false,
  required: ['rate'],
  properties: {
    rate: { type: 'integer', minimum: 1, description: 'Deliveries per `per`.' },
    per: durationSchema(limits.ratePer, 'The period of `rate`. Default 1s.'),
    burst: { type: 'integer', minimum: 1, description: 'Bucket size. Default: rate.' },
  },
} as const;

/** A schema file's name in the schemas directory (`order.v1.json`, `common/address.json`). */
const schemaName = { type: 'string', minLength: 1, maxLength: 255 } as const;

const messageSchema = {
  description:
    'Check each body against a JSON Schema (after `when`, before `transform`): a file in the schemas directory, or { by, map, otherwise } choosing one per message. An invalid body is dead-lettered at once.',
  anyOf: [
    schemaName,
    {
      type: 'object',
      additionalProperties: false,
      required: ['by', 'map'],
      properties: {
        by: {
          type: 'string',
          pattern: '^(type|header:.+)$',
          description: '`type` (the AMQP type property) or `header:<name>`.',
        },
        map: {
          type: 'object',
          minProperties: 1,
          description: 'Value of the type or header → schema file.',
          additionalProperties: schemaName,
        },
        otherwise: {
          enum: ['deadLetter', 'pass'],
          description:
            'A message whose value is absent or not in the map: deadLetter (the default, as invalid) or pass (delivered unchecked).',
        },
      },
    },
  ],
} as const;

/** `to`'s properties: each target's schema under its kind, typed so `FromSchema` reads them too. */
type TargetProperties = { [T in AnyTarget as T['kind']]: T['schema'] };
const targetProperties = Object.fromEntries(targets.map((t) => [t.kind, t.schema])) as TargetProperties;

const route = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  properties: {
    from: {
      type: 'object',
      additionalProperties: false,
      required: ['queue'],
      properties: {
        queue: {
          ...declaredName,
          description: 'The queue consumed; declared (quorum) unless defined under `queues`.',
        },
        bind: bindList,
        replicas: {
          ...replicas,
          description: `${replicas.description} Also given to the route's delay-tier and dead-letter queues.`,
        },
      },
    },
    prefetch: {
      type: 'integer',
      minimum: 1,
      maximum: limits.amqpShort,
      description: 'Unacked deliveries held. Default 32.',
    },
    concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: limits.amqpShort,
      description:
        'Handlers running at once. Default: prefetch; 1 for an ordered singleActiveConsumer route.',
    },
    singleActiveConsumer: {
      type: 'boolean',
      description:
        'Declare the source queue with x-single-active-consumer: of all replicas, one consumes at a time. Default false.',
    },
    ordered: {
      type: 'boolean',
      description:
        'With singleActiveConsumer: true (the default) keeps order, so concurrency must be 1; false allows concurrency > 1.',
    },
    when,
    rateLimit,
    schema: messageSchema,
    maxInFlightBytes: {
      ...sizeSchema,
      description: `${sizeSchema.description.replace(/\.$/, '')}; the most message body bytes the route works on at once (default 64MiB). A larger message still runs, alone.`,
    },
    transform: {
      description:
        'A sandboxed plugin run before the target: a file in plugins/, or { file, timeout, memoryLimitMb }.',
      anyOf: [{ type: 'string', minLength: 1 }, pluginRefSchema],
    },
    deliveryLimit: {
      type: 'integer',
      minimum: 1,
      maximum: limits.amqpShort,
      description: 'x-delivery-limit of a quorum source queue (poison guard). Default 10.',
    },
    to: {
      type: 'object',
      description: 'Exactly one target.',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: targetProperties,
    },
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        attempts: {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
          description: 'Total tries including the first.',
        },
        backoff: {
          type: 'array',
          minItems: 1,
          items: durationSchema(limits.backoff, 'A delay.'),
          description: 'Delay before each retry.',
        },
      },
    },
    deadLetter: {
      type: 'object',
      additionalProperties: false,
      properties: { queue: { ...declaredName, description: 'Default `<queue>.dlq`.' } },
    },
  },
} as const;

export const routesSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://warren.dev/schema/routes-v1.json',
  title: 'Warren route file (format v1)',
  type: 'object',
  additionalProperties: false,
  properties: {
    exchanges: { type: 'object', amqpKeys: 'declared', additionalProperties: exchange },
    queues: { type: 'object', amqpKeys: 'declared', additionalProperties: queue },
    routes: { type: 'object', amqpKeys: 'route', additionalProperties: route },
  },
} as const;

/**
 * A document as the schema admits it, derived from the schema object so the two cannot drift.
 * Where Warren's own keywords (`amqpName`, `durationRange`, …) narrow a value, the type is the
 * plain JSON Schema shape. `to` holds each target's schema under its kind; that exactly one is
 * given (`minProperties`, `maxProperties`) is beyond `FromSchema`, so every key is optional.
 */
export type RawDocument = FromSchema<typeof routesSchema>;
export type RawExchange = NonNullable<RawDocument['exchanges']>[string];
export type RawQueue = NonNullable<RawDocument['queues']>[string];
export type RawRoute = NonNullable<RawDocument['routes']>[string];
export type RawBinding = NonNullable<RawExchange['bind']>[number];
export type RawFilter = NonNullable<RawRoute['when']>;
