import { hash } from 'node:crypto';
import type { WebhookTargetSpec } from '../config/types.js';
import type { Delivery } from '../delivery/types.js';
import { isValidTracestate } from '../telemetry/trace.js';
import { isFieldValue, isWebhookId, lastValueEncoder, percentEncode } from './header-value.js';
import { appendCloudEventHeaders, type CloudEventDefaults, defaultAttribute } from './webhook-cloudevents.js';
import { envelopeBody } from './webhook-envelope.js';
import { createSigner, type Signer } from './webhook-sign.js';

/**
 * What a webhook route sends for one delivery (README: Webhook contract): headers and body, per `body` mode,
 * signed when the route has `sign`. The webhook target and `warren test` both build requests
 * here, so a test predicts the very bytes a receiver gets.
 */

/** A request ready for undici: headers as its flat name/value list (its cheapest form). */
export interface WebhookRequest {
  headers: string[];
  body: Buffer;
}

/** A delivery that cannot become a request (a CloudEvent without `type`, a content-type HTTP
 * cannot carry): dead-letter it. */
export interface Refusal {
  refused: string;
}

/** `traceparent`: what the request carries when not the delivery's own (a client span's, when tracing). */
export type RequestBuilder = (
  d: Delivery,
  timestamp: string,
  traceparent?: string,
) => WebhookRequest | Refusal;

/** Set by Warren on every request; a route's own `headers` cannot replace them. */
const contractHeaders = new Set([
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

/**
 * A route's fixed headers, worked out once per route: its own `headers` as a flat list, without
 * any name Warren sets itself (an object would let later keys win, but a flat list sends
 * duplicates, so the reserved names are dropped here). In CloudEvents mode its `ce-*` headers are
 * kept apart as per-attribute defaults.
 */
interface HeaderPlan {
  extra: string[];
  contentType: string | undefined;
  contentEncoding: string | undefined;
  cloudEventDefaults: CloudEventDefaults;
}

function planHeaders(spec: WebhookTargetSpec): HeaderPlan {
  const plan: HeaderPlan = {
    extra: [],
    contentType: undefined,
    contentEncoding: undefined,
    cloudEventDefaults: [],
  };
  for (const [name, value] of Object.entries(spec.headers)) {
    const lower = name.toLowerCase();
    if (contractHeaders.has(lower)) continue;
    const attribute = spec.body === 'cloudevents' ? defaultAttribute(lower) : undefined;
    if (lower === 'content-type') plan.contentType = value;
    else if (lower === 'content-encoding') plan.contentEncoding = value;
    // datacontenttype becomes the Content-Type, which is not percent-encoded; the rest are ce-* headers.
    else if (attribute !== undefined)
      plan.cloudEventDefaults.push([
        attribute,
        attribute === 'datacontenttype' ? value : percentEncode(value),
      ]);
    else plan.extra.push(name, value);
  }
  return plan;
}

/** Builds the route's requests; everything that does not depend on the message is done here. */
export function planRequest(spec: WebhookTargetSpec): RequestBuilder {
  const plan = planHeaders(spec);
  const signer: Signer | undefined = spec.sign ? createSigner(spec.sign.secrets) : undefined;
  const mode = spec.body;
  const encodeRoute = lastValueEncoder();
  const encodeExchange = lastValueEncoder();
  /** The last content-type (or encoding) seen valid: most routes carry one or two. */
  let validType = '';
  let validEncoding = '';
  return function buildRequest(d, timestamp, traceparent = d.traceparent) {
    // Every value taken from the message is made a valid header value here (see header-value.ts):
    // undici would refuse the request, and no retry can change the message.
    const id = webhookId(d);
    const headers = [
      'content-type',
      '', // set below, once the body mode has had its say
      'webhook-id',
      id,
      'webhook-timestamp',
      timestamp,
      'x-warren-route',
      encodeRoute(d.route),
      'x-warren-attempt',
      `${d.attempt}`,
      'x-warren-exchange',
      encodeExchange(d.exchange),
      'x-warren-routing-key',
      percentEncode(d.routingKey),
      'x-warren-redelivered',
      d.redelivered ? 'true' : 'false',
      'traceparent',
      traceparent, // always valid: a malformed one was replaced by a fresh one (toDelivery)
    ];
    if (d.tracestate && isValidTracestate(d.tracestate)) headers.push('tracestate', d.tracestate);
    let body = d.content;
    let contentType = plan.contentType ?? d.properties.contentType;
    let encoding = plan.contentEncoding ?? d.properties.contentEncoding;
    if (mode === 'envelope') {
      body = envelopeBody(d, id);
      contentType = plan.contentType ?? 'application/json';
      encoding = undefined; // the envelope itself is plain JSON; the body's encoding is inside
    } else if (mode === 'cloudevents') {
      const mapped = appendCloudEventHeaders(d, id, plan.cloudEventDefaults, headers);
      if (mapped.refused !== undefined) return { refused: mapped.refused };
      contentType ??= mapped.dataContentType;
    }
    // A media type cannot be percent-encoded (the receiver would not read it as one), and a
    // guessed one would mislabel the body: such a message cannot be sent as it is.
    if (typeof contentType === 'string' && contentType !== validType) {
      if (!isFieldValue(contentType)) return unsendable('content-type');
      validType = contentType;
    }
    if (typeof encoding === 'string' && encoding !== validEncoding) {
      if (!isFieldValue(encoding)) return unsendable('content-encoding');
      validEncoding = encoding;
    }
    headers[1] = contentType ?? 'application/octet-stream';
    if (encoding) headers.push('content-encoding', encoding);
    // Over the final body bytes, whatever the mode: what the receiver verifies is what it got.
    if (signer) headers.push('webhook-signature', signer(id, timestamp, body));
    for (let i = 0; i < plan.extra.length; i++) headers.push(plan.extra[i]!);
    return { headers, body };
  };
}

/**
 * The message-id when it can be a `webhook-id` (visible ASCII, as almost every id is); otherwise
 * `msg_` and a hash of the message-id itself: as stable across retries, and two messages with
 * different ids never share one (a receiver that dedupes on webhook-id would drop the second).
 */
function webhookId(d: Delivery): string {
  return isWebhookId(d.id) ? d.id : `msg_${hash('sha256', d.id, 'hex').slice(0, 32)}`;
}

function unsendable(what: 'content-type' | 'content-encoding'): Refusal {
  return {
    refused: `the message's ${what} cannot be an HTTP header value (control characters or non-ASCII)`,
  };
}

/** `webhook-timestamp` changes once a second: format it once a second, not once a message. */
let stampSecond = -1;
let stampText = '';

export function unixSeconds(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampText = `${second}`;
  }
  return stampText;
}
