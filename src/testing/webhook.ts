import type { WebhookTargetSpec } from '../config/types.js';
import { ack } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import type { Handler } from '../targets/types.js';
import * as webhook from '../targets/webhook.js';

/** One request the webhook target would have sent. */
export interface RecordedRequest {
  url: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

type HeaderPlanner = (spec: WebhookTargetSpec, d: Delivery) => Record<string, string> | string[];

/**
 * The webhook target's own request planning, `webhookHeaders(spec, delivery)`, when
 * src/targets/webhook.ts exports it. Looked up rather than imported so that `warren test` keeps
 * building while that module is reworked; without it, `contractHeaders` below stands in.
 */
const planned = (webhook as unknown as { webhookHeaders?: HeaderPlanner }).webhookHeaders;

/**
 * The request headers of DESIGN §4, as the webhook target builds them: Warren's contract headers
 * win over the route's `headers`, the route's `content-type`/`content-encoding` over the message's.
 * Only used while the target does not export its own planning (see `planned`).
 */
const reserved = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-warren-route',
  'x-warren-attempt',
  'x-warren-exchange',
  'x-warren-routing-key',
  'x-warren-redelivered',
  'traceparent',
  'tracestate',
]);

function contractHeaders(spec: WebhookTargetSpec, d: Delivery): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.headers)) {
    if (!reserved.has(name.toLowerCase())) own[name.toLowerCase()] = value;
  }
  const encoding = own['content-encoding'] ?? d.properties.contentEncoding;
  return {
    ...own,
    'content-type': own['content-type'] ?? d.properties.contentType ?? 'application/octet-stream',
    ...(encoding ? { 'content-encoding': String(encoding) } : {}),
    'webhook-id': d.id,
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
    'x-warren-route': d.route,
    'x-warren-attempt': String(d.attempt),
    'x-warren-exchange': d.exchange,
    'x-warren-routing-key': d.routingKey,
    'x-warren-redelivered': d.redelivered ? 'true' : 'false',
    traceparent: d.traceparent,
    ...(d.tracestate ? { tracestate: d.tracestate } : {}),
  };
}

/** Header names lower-cased; a flat name/value list (undici's form) turned into an object. */
function normalize(headers: Record<string, string> | string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) out[headers[i]!.toLowerCase()] = headers[i + 1]!;
  } else {
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = String(value);
  }
  return out;
}

export function requestHeaders(spec: WebhookTargetSpec, d: Delivery): Record<string, string> {
  return normalize(planned ? planned(spec, d) : contractHeaders(spec, d));
}

/**
 * Stands in for the webhook target: records the request it would send and answers as a 2xx would
 * (ack). Never opens a connection.
 */
export function recordingWebhook(
  spec: WebhookTargetSpec,
  record: (request: RecordedRequest) => void,
): Handler {
  return async (d) => {
    record({ url: spec.url, method: spec.method, headers: requestHeaders(spec, d), body: d.content });
    return ack();
  };
}
