import { EventEmitter } from 'node:events';
import { Agent } from 'undici';
import { parseDuration } from '../config/duration.js';
import type { WebhookTargetSpec } from '../config/types.js';
import { defaults } from '../config/types.js';
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

export function webhookHeaders(spec: WebhookTargetSpec, d: Delivery): Record<string, string> {
  return {
    'content-type': d.properties.contentType ?? 'application/octet-stream',
    ...(d.properties.contentEncoding ? { 'content-encoding': d.properties.contentEncoding } : {}),
    ...spec.headers,
    'webhook-id': d.id,
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
    'x-warren-route': d.route,
    'x-warren-attempt': String(d.attempt),
    'x-warren-exchange': d.exchange,
    'x-warren-routing-key': d.routingKey,
    'x-warren-redelivered': String(d.redelivered),
    traceparent: d.traceparent,
    ...(d.tracestate ? { tracestate: d.tracestate } : {}),
  };
}

function createWebhook(spec: WebhookTargetSpec): Handler {
  const url = new URL(spec.url);
  const origin = url.origin;
  const path = `${url.pathname}${url.search}`;
  return async function deliverToWebhook(d: Delivery): Promise<Outcome> {
    // One deadline for connect, request, response and body. undici takes an EventEmitter as its
    // signal; AbortSignal.timeout per request cost more than the rest of the delivery's CPU.
    const signal = new EventEmitter();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signal.emit('abort');
    }, spec.timeoutMs);
    try {
      const res = await pools().request({
        origin,
        path,
        method: spec.method,
        headers: webhookHeaders(spec, d),
        body: d.content,
        signal,
      });
      const status = res.statusCode;
      events.webhookResponse(d.route, statusClass(status));
      if (status >= 200 && status < 300) {
        await res.body.dump();
        return ack();
      }
      const excerpt = await readExcerpt(res.body);
      const outcome = classifyStatus(status, parseRetryAfter(res.headers['retry-after']));
      if (outcome.kind === 'retry' || outcome.kind === 'dead-letter') {
        outcome.reason = excerpt ? `HTTP ${status}: ${excerpt}` : `HTTP ${status}`;
      }
      return outcome;
    } catch (err) {
      if (timedOut) {
        events.webhookResponse(d.route, 'timeout');
        return retry(`timeout after ${spec.timeoutMs}ms`);
      }
      events.webhookResponse(d.route, 'error');
      const e = err as NodeJS.ErrnoException;
      return retry(`connection error: ${e.code ?? e.message}`);
    } finally {
      clearTimeout(timer);
    }
  };
}

const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClass(status: number): string {
  return statusClasses[Math.floor(status / 100) - 1] ?? 'other';
}

async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= errorBodyLimit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks)
    .subarray(0, errorBodyLimit)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
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
    return {
      kind: 'webhook',
      url: raw.url as string,
      method: (raw.method as WebhookTargetSpec['method'] | undefined) ?? 'POST',
      headers: (raw.headers as Record<string, string> | undefined) ?? {},
      timeoutMs:
        raw.timeout === undefined ? defaults.webhookTimeoutMs : parseDuration(raw.timeout as string | number),
    };
  },
  create: (spec) => createWebhook(spec),
};
