import { hash } from 'node:crypto';
import type { ConsumeMessage, Message } from 'amqplib';
import { headerInteger, headerText, ownHeaders } from '../amqp/headers.js';
import { newTraceparent, validTraceparent } from '../telemetry/trace.js';
import type { Delivery } from './types.js';

/**
 * The idempotency key when the publisher set no message-id: a hash of what identifies the
 * message and stays put across retries and redeliveries (never the delivery tag, x-death or
 * x-delivery-count). Two byte-identical publishes share it; set message-id to tell them apart.
 */
export function stableId(
  msg: Pick<Message, 'properties' | 'content'>,
  exchange: string,
  routingKey: string,
): string {
  const p = msg.properties;
  const fields = `${exchange}\0${routingKey}\0${p.correlationId ?? ''}\0${p.timestamp ?? ''}\0${p.type ?? ''}\0`;
  // The same SHA-256 as ever (ids of messages waiting in a delay tier must not change), one-shot:
  // no Hash object per message, about a tenth of the cost.
  const digest = hash('sha256', Buffer.concat([Buffer.from(fields), msg.content]), 'hex');
  return `msg_${digest.slice(0, 32)}`;
}

/** Copies what a target needs out of the AMQP message, undoing any trip through a delay tier. */
export function toDelivery(msg: ConsumeMessage, route: string): Delivery {
  const headers = ownHeaders((msg.properties.headers ?? {}) as Record<string, unknown>);
  const exchange = headerText(headers['x-warren-original-exchange']) ?? msg.fields.exchange;
  const routingKey = headerText(headers['x-warren-original-routing-key']) ?? msg.fields.routingKey;
  const delivery: Delivery = {
    content: msg.content,
    properties: msg.properties,
    headers,
    exchange,
    routingKey,
    redelivered: msg.fields.redelivered,
    attempt: attemptOf(headers['x-warren-attempt']),
    id: msg.properties.messageId ? String(msg.properties.messageId) : stableId(msg, exchange, routingKey),
    traceparent: validTraceparent(headers.traceparent) ?? newTraceparent(),
    route,
  };
  const tracestate = headerText(headers.tracestate);
  if (tracestate) delivery.tracestate = tracestate;
  return delivery;
}

/** `x-warren-attempt` of a retry copy; 1 when absent or not a positive integer. */
function attemptOf(value: unknown): number {
  const n = headerInteger(value);
  return n !== undefined && n >= 1 ? n : 1;
}
