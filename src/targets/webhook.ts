import { Agent, type Dispatcher } from 'undici';
import { durationSchema, parseDuration } from '../config/duration.js';
import type { BodyMode, CircuitPolicy, WebhookTargetSpec } from '../config/types.js';
import { defaults } from '../config/types.js';
import { Deadlines, Expiring } from '../deadlines.js';
import { ack, deadLetter, type Outcome, retry } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import { events } from '../telemetry/events.js';
import type { Handler, TargetModule } from './types.js';

/** One keep-alive pool per origin, shared by every webhook route; redirects are never followed. */
let agent: Agent | undefined;

function pools(): Agent {
  agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  return agent;
}

/** How much of an error response body is kept for the dead-letter reason. */
const errorBodyLimit = 512;

export async function closeWebhookPools(): Promise<void> {
  const closing = agent;
  agent = undefined;
  // Runs after the drain deadline: a request still open belongs to a delivery whose channel is
  // already closed (the broker requeued it). close() would wait for it, up to the webhook timeout.
  await closing?.destroy();
}

/** 408, 429 and 5xx are worth trying again; other non-2xx responses will not change. */
export function classifyStatus(status: number, retryAfterMs?: number): Outcome {
  if (status >= 200 && status < 300) return ack();
  if (status === 408 || status === 429 || status >= 500) {
    return retry(`HTTP ${status}`, {
      status,
      ...(retryAfterMs !== undefined ? { afterMs: retryAfterMs } : {}),
    });
  }
  return deadLetter(`HTTP ${status}`, { status });
}

/** `Retry-After` as delay-seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Set by Warren on every request; a route's own `headers` cannot replace them. */
const contractHeaders = new Set([
  'webhook-id',
  'webhook-timestamp',
  'x-warren-route',
  'x-warren-attempt',
  'x-warren-exchange',
  'x-warren-routing-key',
  'x-warren-redelivered',
  'traceparent',
  'tracestate',
]);

/**
 * A route's fixed request headers, worked out once per route: its own `headers` as a flat
 * name/value list (undici's cheapest form), without any name Warren sets itself. An object would
 * let later keys win, but a flat list sends duplicates, so the reserved names are dropped here.
 */
interface HeaderPlan {
  extra: string[];
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

function planHeaders(spec: WebhookTargetSpec): HeaderPlan {
  const plan: HeaderPlan = { extra: [], contentType: undefined, contentEncoding: undefined };
  for (const [name, value] of Object.entries(spec.headers)) {
    const lower = name.toLowerCase();
    if (contractHeaders.has(lower)) continue;
    if (lower === 'content-type') plan.contentType = value;
    else if (lower === 'content-encoding') plan.contentEncoding = value;
    else plan.extra.push(name, value);
  }
  return plan;
}

/** The request headers for one delivery (DESIGN §4), as undici's flat name/value list. */
function requestHeaders(plan: HeaderPlan, d: Delivery, timestamp: string): string[] {
  const headers = [
    'content-type',
    plan.contentType ?? d.properties.contentType ?? 'application/octet-stream',
    'webhook-id',
    d.id,
    'webhook-timestamp',
    timestamp,
    'x-warren-route',
    d.route,
    'x-warren-attempt',
    `${d.attempt}`,
    'x-warren-exchange',
    d.exchange,
    'x-warren-routing-key',
    d.routingKey,
    'x-warren-redelivered',
    d.redelivered ? 'true' : 'false',
    'traceparent',
    d.traceparent,
  ];
  if (d.tracestate) headers.push('tracestate', d.tracestate);
  const encoding = plan.contentEncoding ?? d.properties.contentEncoding;
  if (encoding) headers.push('content-encoding', encoding);
  for (let i = 0; i < plan.extra.length; i++) headers.push(plan.extra[i]!);
  return headers;
}

/** `webhook-timestamp` changes once a second: format it once a second, not once a message. */
let stampSecond = -1;
let stampText = '';
/** One delivery's request headers as an object (lower-case names): what `warren test` compares. */
export function webhookHeaders(spec: WebhookTargetSpec, d: Delivery): Record<string, string> {
  const list = requestHeaders(planHeaders(spec), d, unixSeconds());
  const headers: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) headers[list[i]!] = list[i + 1]!;
  return headers;
}

function unixSeconds(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampText = `${second}`;
  }
  return stampText;
}

/**
 * One request on undici's dispatcher API. `Agent.request()` would wrap every response in a
 * stream, a promise and an async resource and need an abort signal for the deadline; here the
 * handler reads the status, `Retry-After` and a capped error excerpt straight off the socket.
 * The deadline covers the whole exchange, including the wait for a pooled connection: when it
 * passes first, the outcome is final and a request not yet on the wire is never sent.
 */
class WebhookCall extends Expiring implements Dispatcher.DispatchHandler {
  readonly #route: string;
  readonly #timeoutMs: number;
  readonly #deadlines: Deadlines;
  readonly #resolve: (outcome: Outcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #settled = false;
  #status = 0;
  #retryAfter: string | string[] | undefined;
  /** Only kept for a non-2xx response, whose excerpt goes into the dead-letter reason. */
  #chunks: Buffer[] | undefined;
  #size = 0;

  constructor(route: string, timeoutMs: number, deadlines: Deadlines, resolve: (outcome: Outcome) => void) {
    super();
    this.#route = route;
    this.#timeoutMs = timeoutMs;
    this.#deadlines = deadlines;
    this.#resolve = resolve;
    deadlines.add(this);
  }

  expire(): void {
    if (this.#settled) return;
    this.#finish('timeout', retry(`timeout after ${this.#timeoutMs}ms`));
    this.#controller?.abort(new Error(`webhook deadline of ${this.#timeoutMs}ms passed`));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#settled) controller.abort(new Error(`webhook deadline of ${this.#timeoutMs}ms passed`));
    else this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status < 200) return; // 1xx informational: the real response follows
    this.#status = status;
    if (status >= 300) {
      this.#retryAfter = headers['retry-after'];
      this.#chunks = [];
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#chunks === undefined || this.#settled) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    // Enough for the reason: stop reading a large error page (the connection is dropped).
    if (this.#size >= errorBodyLimit) {
      this.#finishError();
      controller.abort(new Error('read enough of the error response'));
    }
  }

  onResponseEnd(): void {
    if (this.#settled) return;
    if (this.#chunks === undefined) this.#finish(statusClass(this.#status), ack());
    else this.#finishError();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#settled) return;
    const e = err as NodeJS.ErrnoException;
    this.#finish('error', retry(`connection error: ${e.code ?? e.message}`));
  }

  #finishError(): void {
    const status = this.#status;
    const outcome = classifyStatus(status, parseRetryAfter(this.#retryAfter));
    const text = excerpt(this.#chunks!);
    if (outcome.kind === 'retry' || outcome.kind === 'dead-letter') {
      outcome.reason = text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
    }
    this.#finish(statusClass(status), outcome);
  }

  #finish(responseClass: string, outcome: Outcome): void {
    this.#settled = true;
    this.#deadlines.remove(this);
    events.webhookResponse(this.#route, responseClass);
    this.#resolve(outcome);
  }
}

function createWebhook(spec: WebhookTargetSpec): Handler {
  const url = new URL(spec.url);
  const origin = url.origin;
  const path = `${url.pathname}${url.search}`;
  const plan = planHeaders(spec);
  const deadlines = new Deadlines(spec.timeoutMs);
  return function deliverToWebhook(d: Delivery): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const call = new WebhookCall(d.route, spec.timeoutMs, deadlines, resolve);
      const options: Dispatcher.DispatchOptions = {
        origin,
        path,
        method: spec.method,
        headers: requestHeaders(plan, d, unixSeconds()),
        body: d.content,
      };
      try {
        pools().dispatch(options, call);
      } catch (err) {
        // A destroyed pool (shutdown) reports through onResponseError; anything else lands here.
        call.onResponseError(undefined, err as Error);
      }
    });
  };
}

const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClass(status: number): string {
  return statusClasses[Math.floor(status / 100) - 1] ?? 'other';
}

function excerpt(chunks: Buffer[]): string {
  return Buffer.concat(chunks)
    .subarray(0, errorBodyLimit)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

type StatusItem = number | string;

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

function normalizeCircuit(raw: Record<string, unknown>): CircuitPolicy {
  const d = defaults.circuit;
  return {
    failureRate: (raw.failureRate as number | undefined) ?? d.failureRate,
    minRequests: (raw.minRequests as number | undefined) ?? d.minRequests,
    windowMs: raw.window === undefined ? d.windowMs : parseDuration(raw.window as string | number),
    cooldownMs: raw.cooldown === undefined ? d.cooldownMs : parseDuration(raw.cooldown as string | number),
  };
}

export const webhookTarget: TargetModule<'webhook'> = {
  kind: 'webhook',
  description: 'POST (or PUT/PATCH) the message to an HTTP endpoint.',
  schema: {
    type: 'object',
    description:
      'Deliver to an HTTP endpoint; 2xx acks, 408/429/5xx/timeouts retry, other statuses dead-letter.',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', format: 'uri', pattern: '^https?://', description: 'http:// or https:// URL.' },
      method: { enum: ['POST', 'PUT', 'PATCH'], description: 'Default POST.' },
      headers: {
        type: 'object',
        description:
          'Extra request headers; `webhook-*`, `x-warren-*` and trace headers cannot be overridden.',
        additionalProperties: { type: 'string' },
      },
      timeout: {
        description: 'Deadline for the whole exchange (connect, response, body). Default 10s.',
        anyOf: [
          { type: 'string', format: 'duration' },
          { type: 'integer', minimum: 1 },
        ],
      },
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
              window: { ...durationSchema, description: 'The sliding window. Default 30s.' },
              cooldown: {
                ...durationSchema,
                description: 'How long it stays open before a probe. Default 30s.',
              },
            },
          },
        ],
      },
    },
  },
  examples: [
    { url: 'http://billing.internal:8080/hooks/orders' },
    {
      url: 'https://crm.example.com/events',
      method: 'PUT',
      timeout: '5s',
      headers: { authorization: 'Bearer x' },
    },
  ],
  normalize(raw) {
    const secret = (raw.sign as { secret?: string | string[] } | undefined)?.secret;
    const circuit = raw.circuit as false | Record<string, unknown> | undefined;
    const spec: WebhookTargetSpec = {
      kind: 'webhook',
      url: raw.url as string,
      method: (raw.method as WebhookTargetSpec['method'] | undefined) ?? 'POST',
      headers: (raw.headers as Record<string, string> | undefined) ?? {},
      timeoutMs:
        raw.timeout === undefined ? defaults.webhookTimeoutMs : parseDuration(raw.timeout as string | number),
      body: (raw.body as BodyMode | undefined) ?? 'raw',
      retryOn: expandStatuses(raw.retryOn as StatusItem[] | undefined),
      deadLetterOn: expandStatuses(raw.deadLetterOn as StatusItem[] | undefined),
    };
    if (secret !== undefined) spec.sign = { secrets: Array.isArray(secret) ? secret : [secret] };
    if (circuit !== false) spec.circuit = normalizeCircuit(circuit ?? {});
    return spec;
  },
  create: (spec) => createWebhook(spec),
};
