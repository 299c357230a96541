import type { Message } from 'amqplib';
import { headerJson, headerNumber, headerText, type JsonRule, ownHeaders } from '../amqp/headers.js';
import { publishIdHeader } from '../amqp/publisher.js';
import { deadLetterAnnotations } from '../delivery/copies.js';

/** Bytes of the body a peek shows: enough to recognise a message, short enough for a table. */
export const excerptBytes = 256;

/** Headers a peek shows as named fields (a dead letter's annotations) rather than under `headers`. */
const annotationHeaders = new Set([
  ...[...deadLetterAnnotations].filter((name) => name !== 'traceparent'),
  // Bookkeeping, not information: which publish a return belonged to, how often the DLQ
  // handed the message out (each peek adds one).
  publishIdHeader,
  'x-delivery-count',
]);

/** One dead-lettered message as `warren dlq ls` and `GET /api/dlq/:route` show it. */
export interface DeadLetterView {
  /** 1-based position in the DLQ at the time of the peek. */
  position: number;
  messageId?: string;
  /** `x-warren-route`: the route that gave up on it. */
  route?: string;
  /** `x-warren-error`, or for a message the broker dead-lettered (poison guard) its reason. */
  error?: string;
  status?: number;
  /** `x-warren-schema`: the schema a body broke (its pointer and message are in `error`). */
  schema?: string;
  attempts?: number;
  failedAt?: string;
  /** Where the message was first published. */
  exchange?: string;
  routingKey?: string;
  /** Set when the broker, not Warren, dead-lettered it (`x-first-death-reason`, e.g. `delivery_limit`). */
  deathReason?: string;
  contentType?: string;
  contentEncoding?: string;
  size: number;
  /** The first `excerptBytes` of the body: as text when it is UTF-8 text, else base64. */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  truncated: boolean;
  /** Every other header, as JSON-safe values. */
  headers: Record<string, unknown>;
}

/** A peek is read by people: timestamps as ISO text; decimals stay as amqplib decodes them. */
const peekJson: JsonRule = { bytes: 'base64', timestamps: 'iso', decimals: 'typed' };

/** An annotation or x-death field as text: a number counts, a boolean does not. */
function text(value: unknown): string | undefined {
  return headerText(value, 'numbers');
}

interface DeathEntry {
  queue?: unknown;
  reason?: unknown;
  exchange?: unknown;
  'routing-keys'?: unknown;
}

/**
 * Where a message was first published. Warren's copies say so in `x-warren-original-*`; a message
 * the broker dead-lettered on its first trip (the poison guard) only has its `x-death` record.
 */
export function originOf(
  headers: Record<string, unknown>,
): { exchange: string; routingKey: string } | undefined {
  const exchange = text(headers['x-warren-original-exchange']);
  const routingKey = text(headers['x-warren-original-routing-key']);
  if (exchange !== undefined && routingKey !== undefined) return { exchange, routingKey };
  const firstQueue = text(headers['x-first-death-queue']);
  const firstReason = text(headers['x-first-death-reason']);
  // An entry may be anything a publisher sent, null included.
  const deaths = Array.isArray(headers['x-death']) ? (headers['x-death'] as Array<DeathEntry | null>) : [];
  // x-death holds one entry per queue and reason, most recent first: the first death is that pair.
  const first =
    deaths.find((d) => text(d?.queue) === firstQueue && text(d?.reason) === firstReason) ?? deaths.at(-1);
  const firstExchange = text(headers['x-first-death-exchange']) ?? text(first?.exchange);
  const keys = first?.['routing-keys'];
  const firstKey = Array.isArray(keys) ? text(keys[0]) : undefined;
  if (firstExchange === undefined || firstKey === undefined) return undefined;
  return { exchange: firstExchange, routingKey: firstKey };
}

/** A body excerpt that never splits a character and shows binary (or compressed) data as base64. */
function excerptOf(msg: Message): Pick<DeadLetterView, 'body' | 'bodyEncoding' | 'truncated'> {
  const truncated = msg.content.length > excerptBytes;
  const head = msg.content.subarray(0, excerptBytes);
  if (!msg.properties.contentEncoding) {
    try {
      // stream: a multi-byte character cut at the excerpt's end is not an error, just left out.
      const text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: truncated });
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters mean binary
      if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text))
        return { body: text, bodyEncoding: 'utf8', truncated };
    } catch {
      // not UTF-8: shown as base64 below
    }
  }
  return { body: head.toString('base64'), bodyEncoding: 'base64', truncated };
}

/** Only the keys whose value is defined, in the order given. */
function defined<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What a peek shows of one DLQ message: the dead-letter annotations, the origin, a body excerpt. */
export function describeDeadLetter(msg: Message, position: number): DeadLetterView {
  const headers = ownHeaders((msg.properties.headers ?? {}) as Record<string, unknown>);
  const p = msg.properties;
  const error = text(headers['x-warren-error']);
  // The latest death says why it is here (x-death is newest first): a message that went through a
  // delay tier has `expired` as its *first* death, and `delivery_limit` as the one that sent it here.
  const deaths = headers['x-death'];
  const latest = Array.isArray(deaths) ? (deaths[0] as { reason?: unknown } | undefined) : undefined;
  const deathReason = text(latest?.reason) ?? text(headers['x-first-death-reason']);
  const origin = originOf(headers);
  const rest: Record<string, unknown> = {};
  for (const name of Object.keys(headers).sort()) {
    if (!annotationHeaders.has(name)) rest[name] = headerJson(headers[name], peekJson);
  }
  return {
    position,
    ...defined({
      messageId: p.messageId ? String(p.messageId) : undefined,
      route: text(headers['x-warren-route']),
      error: error ?? (deathReason ? `dead-lettered by the broker: ${deathReason}` : undefined),
      status: headerNumber(headers['x-warren-status']),
      schema: text(headers['x-warren-schema']),
      attempts: headerNumber(headers['x-warren-attempts']),
      failedAt: text(headers['x-warren-failed-at']),
      exchange: origin?.exchange,
      routingKey: origin?.routingKey,
      deathReason: error === undefined ? deathReason : undefined,
      contentType: p.contentType ? String(p.contentType) : undefined,
      contentEncoding: p.contentEncoding ? String(p.contentEncoding) : undefined,
    }),
    size: msg.content.length,
    ...excerptOf(msg),
    headers: rest,
  };
}
