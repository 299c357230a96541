import { isUtf8 } from 'node:buffer';
import type { MessageProperties } from 'amqplib';
import { headerJson, isBrokerBookkeeping, type JsonRule } from '../amqp/headers.js';
import type { Delivery } from '../delivery/types.js';

/**
 * `body: envelope`: the message and what AMQP knows about it, as one JSON object.
 *
 *   { id, route, exchange, routingKey, attempt, redelivered, properties, headers, bodyEncoding, body }
 *
 * `bodyEncoding` says how to read `body`: `json` (a JSON message, embedded as its very bytes, so
 * large integers and number formats survive), `text` (valid UTF-8, as a string) or `base64`
 * (anything else, or a body with a content-encoding such as gzip).
 */
export type BodyEncoding = 'json' | 'text' | 'base64';

/** AMQP properties worth telling the receiver, in this order (headers travel apart). */
const propertyKeys = [
  'contentType',
  'contentEncoding',
  'deliveryMode',
  'priority',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'timestamp',
  'type',
  'userId',
  'appId',
] as const satisfies ReadonlyArray<keyof MessageProperties>;

/** AMQP values: byte arrays as base64, timestamps as Unix seconds (like the `timestamp` property),
 * decimals as numbers. */
const envelopeJson: JsonRule = { bytes: 'base64', timestamps: 'seconds', decimals: 'number' };

const closingBrace = Buffer.from('}');

/** `id` is the request's `webhook-id`. */
export function envelopeBody(d: Delivery, id: string): Buffer {
  const envelope: Record<string, unknown> = {
    id,
    route: d.route,
    exchange: d.exchange,
    routingKey: d.routingKey,
    attempt: d.attempt,
    redelivered: d.redelivered,
    properties: envelopeProperties(d.properties),
    headers: envelopeHeaders(d.headers),
  };
  const encoding = bodyEncoding(d);
  if (encoding === 'json') {
    const head = JSON.stringify(envelope);
    // Splice the body's own bytes in: it parsed as JSON, so the envelope stays valid JSON.
    return Buffer.concat([
      Buffer.from(`${head.slice(0, -1)},"bodyEncoding":"json","body":`),
      d.content,
      closingBrace,
    ]);
  }
  envelope.bodyEncoding = encoding;
  envelope.body = encoding === 'text' ? d.content.toString('utf8') : d.content.toString('base64');
  return Buffer.from(JSON.stringify(envelope));
}

export function bodyEncoding(d: Delivery): BodyEncoding {
  const { content, properties } = d;
  if (properties.contentEncoding) return 'base64';
  if (!isUtf8(content)) return 'base64';
  if (isJsonType(properties.contentType) && parsesAsJson(content)) return 'json';
  return 'text';
}

/** `application/json` and the structured-syntax suffix `+json` (`application/cloudevents+json`). */
function isJsonType(contentType: unknown): boolean {
  if (typeof contentType !== 'string') return false;
  const semi = contentType.indexOf(';');
  const media = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

function parsesAsJson(content: Buffer): boolean {
  try {
    JSON.parse(content.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function envelopeProperties(properties: MessageProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of propertyKeys) {
    const value: unknown = properties[key];
    if (value !== undefined && value !== null) out[key] = headerJson(value, envelopeJson);
  }
  return out;
}

/**
 * The publisher's headers, without Warren's and the broker's bookkeeping (the envelope says what
 * they would) or the trace context (sent as HTTP headers; a retry copy carries one Warren started):
 * the same on every attempt.
 */
function envelopeHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in headers) {
    if (isLeftOut(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = headerJson(value, envelopeJson);
  }
  return out;
}

function isLeftOut(name: string): boolean {
  return (
    name.startsWith('x-warren-') ||
    name === 'traceparent' ||
    name === 'tracestate' ||
    isBrokerBookkeeping(name)
  );
}
