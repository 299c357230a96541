import type { FromSchema } from 'json-schema-to-ts';
import { durationSchema, parseDuration } from '../config/duration.js';
import type { CircuitPolicy, WebhookTargetSpec } from '../config/types.js';
import { defaults, limits } from '../config/types.js';
import { receiverSchemaKey } from './contract.js';

/** The `to.webhook` schema, its examples and its normalisation. */

/** `to.webhook` as the schema admits it (before defaults). */
export type RawWebhook = FromSchema<typeof webhookSchema>;
/** `circuit` in its object form (`false` turns it off). */
export type RawCircuit = Exclude<NonNullable<RawWebhook['circuit']>, false>;
type StatusItem = NonNullable<RawWebhook['retryOn']>[number];

const whsecSchema = {
  type: 'string',
  pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
  description: 'A Standard Webhooks key: `whsec_` followed by base64.',
} as const;

const statusListSchema = {
  type: 'array',
  minItems: 1,
  items: {
    anyOf: [
      { type: 'integer', minimum: 300, maximum: 599 },
      { type: 'string', pattern: '^[345]xx$' },
    ],
  },
} as const;

/** `[409, '5xx']` → every status it names, in order, once. */
export function expandStatuses(items: StatusItem[] | undefined): number[] {
  const out = new Set<number>();
  for (const item of items ?? []) {
    if (typeof item === 'number') out.add(item);
    else for (let s = Number(item[0]) * 100; s < Number(item[0]) * 100 + 100; s++) out.add(s);
  }
  return [...out];
}

function normalizeCircuit(raw: RawCircuit): CircuitPolicy {
  const d = defaults.circuit;
  return {
    failureRate: raw.failureRate ?? d.failureRate,
    minRequests: raw.minRequests ?? d.minRequests,
    consecutiveFailures: raw.consecutiveFailures ?? d.consecutiveFailures,
    windowMs: raw.window === undefined ? d.windowMs : parseDuration(raw.window),
    cooldownMs: raw.cooldown === undefined ? d.cooldownMs : parseDuration(raw.cooldown),
  };
}

export const webhookSchema = {
  type: 'object',
  description:
    'Deliver to an HTTP endpoint; 2xx acks, 408/429/5xx/timeouts retry, other statuses dead-letter.',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: {
      type: 'string',
      httpUrl: true,
      description: 'http:// or https:// URL with a host (port 1-65535).',
    },
    method: { enum: ['POST', 'PUT', 'PATCH'], description: 'Default POST.' },
    schema: receiverSchemaKey,
    headers: {
      type: 'object',
      description:
        'Extra request headers (names are HTTP tokens, values carry no CR/LF and only Latin-1); `webhook-*`, `x-warren-*` and trace headers cannot be overridden.',
      httpHeaders: true,
      additionalProperties: { type: 'string' },
    },
    timeout: durationSchema(
      limits.webhookTimeout,
      'Deadline for the whole exchange (connect, response, body). Default 10s.',
    ),
    body: {
      enum: ['raw', 'cloudevents', 'envelope'],
      description:
        '`raw` (default): the body as it is, with its content-type; `cloudevents`: binary mode, `ce-*` headers from the `cloudEvents_*` / `cloudEvents:*` AMQP headers; `envelope`: JSON with body, headers, properties, exchange, routingKey, attempt.',
    },
    sign: {
      type: 'object',
      description:
        'Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.',
      additionalProperties: false,
      required: ['secret'],
      properties: {
        secret: {
          description:
            'A `whsec_` + base64 key, or a list of them (each signs: rotate by adding the new key, then removing the old).',
          anyOf: [whsecSchema, { type: 'array', minItems: 1, items: whsecSchema }],
        },
      },
    },
    retryOn: {
      ...statusListSchema,
      description: 'Statuses to retry whatever their default, e.g. `[409, 4xx]`.',
    },
    deadLetterOn: {
      ...statusListSchema,
      description: 'Statuses to dead-letter at once whatever their default, e.g. `[501]`.',
    },
    circuit: {
      description:
        'Circuit breaker, on by default: when the receiver keeps failing, the route stops taking deliveries (they wait in the queue) until a probe succeeds. `false` turns it off.',
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            failureRate: {
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 1,
              description: 'Share of failed requests in the window that opens the circuit. Default 0.5.',
            },
            minRequests: {
              type: 'integer',
              minimum: 1,
              description: 'Requests the window needs before it can open. Default 20.',
            },
            consecutiveFailures: {
              type: 'integer',
              minimum: 1,
              maximum: 1_000_000,
              description:
                'Failed requests in a row that open the circuit, whatever the window holds (a receiver that just went down). Default 10.',
            },
            window: durationSchema(limits.circuitWindow, 'The sliding window. Default 30s.'),
            cooldown: durationSchema(
              limits.circuitCooldown,
              'How long it stays open before a probe. Default 30s.',
            ),
          },
        },
      ],
    },
  },
} as const;

export const webhookExamples: RawWebhook[] = [
  { url: 'http://billing.internal:8080/hooks/orders' },
  {
    url: 'https://crm.example.com/events',
    method: 'PUT',
    timeout: '5s',
    headers: { authorization: 'Bearer x' },
  },
  {
    url: 'https://partner.example.com/webhooks',
    body: 'envelope',
    sign: {
      secret: [
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'whsec_dGhlIG5ldyBrZXksIHRoaXJ0eS10d28gYnl0ZXMgb2s=',
      ],
    },
    retryOn: [409],
    deadLetterOn: [501, 505],
  },
  {
    url: 'https://events.example.com/ingest',
    body: 'cloudevents',
    headers: { 'ce-source': '/shop/orders' },
  },
];

export function normalizeWebhook(raw: RawWebhook): WebhookTargetSpec {
  const secret = raw.sign?.secret;
  const spec: WebhookTargetSpec = {
    kind: 'webhook',
    url: raw.url,
    method: raw.method ?? 'POST',
    headers: raw.headers ?? {},
    timeoutMs: raw.timeout === undefined ? defaults.webhookTimeoutMs : parseDuration(raw.timeout),
    body: raw.body ?? 'raw',
    retryOn: expandStatuses(raw.retryOn),
    deadLetterOn: expandStatuses(raw.deadLetterOn),
  };
  if (secret !== undefined) spec.sign = { secrets: Array.isArray(secret) ? secret : [secret] };
  if (raw.circuit !== false) spec.circuit = normalizeCircuit(raw.circuit ?? {});
  return spec;
}
