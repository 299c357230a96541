import type { ConsumeMessage, Options } from 'amqplib';
import { isBrokerBookkeeping } from '../amqp/headers.js';
import { publishIdHeader } from '../amqp/publisher.js';
import type { Delivery } from './types.js';

/** Headers the broker or Warren's bookkeeping added on the way; never copied forward. */
function carriedHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in headers) {
    if (name === publishIdHeader || isBrokerBookkeeping(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * Headers for a message Warren forwards (republish, plugin output): the original's, less the
 * broker's and Warren's bookkeeping, plus `extra`, plus the trace context.
 */
export function forwardedHeaders(d: Delivery, extra?: Record<string, unknown>): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const name in d.headers) {
    if (name.startsWith('x-warren-') || isBrokerBookkeeping(name)) continue;
    headers[name] = d.headers[name];
  }
  if (extra) for (const name in extra) headers[name] = extra[name];
  headers.traceparent = d.traceparent;
  if (d.tracestate) headers.tracestate = d.tracestate;
  return headers;
}

/**
 * The AMQP properties a forwarded message keeps (headers, message-id and delivery mode are set
 * apart). Never `userId`: RabbitMQ refuses (406, closing the channel) a publish whose user-id is
 * not the publishing connection's user, so another user's message could never be copied.
 */
const forwardedKeys = [
  'contentType',
  'contentEncoding',
  'priority',
  'correlationId',
  'replyTo',
  'expiration',
  'timestamp',
  'type',
  'appId',
  'clusterId',
] as const;

/**
 * Properties for a message Warren forwards (republish, plugin output): the original's, with
 * its own message-id, headers and delivery mode. Copied key by key: a rest/spread of amqplib's
 * property object (mostly undefined fields) was a measurable share of a republish.
 */
export function forwardedProperties(
  p: Delivery['properties'],
  messageId: string,
  headers: Record<string, unknown>,
  persistent: boolean,
): Options.Publish {
  const props: Options.Publish = { messageId, headers, deliveryMode: persistent ? 2 : 1 };
  for (const key of forwardedKeys) {
    const value = p[key];
    if (value !== undefined) (props as Record<string, unknown>)[key] = value;
  }
  return props;
}

function baseProperties(msg: ConsumeMessage, d: Delivery): Options.Publish {
  const p = msg.properties;
  const props: Options.Publish = { persistent: true, messageId: d.id };
  if (p.contentType) props.contentType = p.contentType;
  if (p.contentEncoding) props.contentEncoding = p.contentEncoding;
  if (p.correlationId) props.correlationId = p.correlationId;
  if (p.replyTo) props.replyTo = p.replyTo;
  if (p.timestamp) props.timestamp = p.timestamp;
  if (p.type) props.type = p.type;
  if (p.appId) props.appId = p.appId;
  if (p.priority !== undefined) props.priority = p.priority;
  return props;
}

/** The copy sent to a delay tier: same body and properties, the next attempt number, the origin. */
export function retryCopy(msg: ConsumeMessage, d: Delivery): Options.Publish {
  return {
    ...baseProperties(msg, d),
    headers: {
      ...carriedHeaders(d.headers),
      'x-warren-attempt': d.attempt + 1,
      'x-warren-original-exchange': d.exchange,
      'x-warren-original-routing-key': d.routingKey,
      traceparent: d.traceparent,
      ...(d.tracestate ? { tracestate: d.tracestate } : {}),
    },
  };
}

export interface DeadLetterReason {
  reason: string;
  status?: number;
  /** The schema a body broke (`x-warren-schema`). */
  schema?: string;
}

/** The headers `deadLetterCopy` writes: what a dead letter keeps when nothing else can be sent. */
export const deadLetterAnnotations: ReadonlySet<string> = new Set([
  'x-warren-route',
  'x-warren-error',
  'x-warren-status',
  'x-warren-schema',
  'x-warren-attempts',
  'x-warren-failed-at',
  'x-warren-original-exchange',
  'x-warren-original-routing-key',
  'traceparent',
]);

/** The copy sent to the DLQ, annotated with why and where from. */
export function deadLetterCopy(
  msg: ConsumeMessage,
  d: Delivery,
  why: DeadLetterReason,
  now = new Date(),
): Options.Publish {
  const { 'x-warren-attempt': _, ...headers } = carriedHeaders(d.headers);
  return {
    ...baseProperties(msg, d),
    headers: {
      ...headers,
      'x-warren-route': d.route,
      'x-warren-error': why.reason.slice(0, 500),
      ...(why.status !== undefined ? { 'x-warren-status': why.status } : {}),
      ...(why.schema !== undefined ? { 'x-warren-schema': why.schema } : {}),
      'x-warren-attempts': d.attempt,
      'x-warren-failed-at': now.toISOString(),
      'x-warren-original-exchange': d.exchange,
      'x-warren-original-routing-key': d.routingKey,
      traceparent: d.traceparent,
      ...(d.tracestate ? { tracestate: d.tracestate } : {}),
    },
  };
}
