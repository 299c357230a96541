import { headerText, isBytes, timestampDate, timestampSeconds } from '../amqp/headers.js';
import type { Delivery } from '../delivery/types.js';
import { percentEncode } from './header-value.js';

export { percentEncode } from './header-value.js';

/**
 * CloudEvents binary mode (`body: cloudevents`): the attributes the publisher put in AMQP headers
 * (AMQP binding: `cloudEvents_<attr>`, or the older `cloudEvents:<attr>`) become `ce-<attr>`
 * request headers (HTTP binding §3.1.3); `datacontenttype` becomes the Content-Type; the body is
 * sent as it is. A route's own `ce-<attr>` headers are defaults for attributes a message lacks.
 * `id` defaults to the webhook-id and `specversion` to 1.0; a message still without `source` or
 * `type` is not a CloudEvent, and is dead-lettered rather than sent with made-up values.
 */

/** Attribute names: lower-case letters and digits (CloudEvents spec, "Attribute Naming"). */
const attributeName = /^[a-z0-9]+$/;

/** Both prefixes are 12 characters long. */
const prefixLength = 'cloudEvents_'.length;

export interface CloudEventsResult {
  /** Set when the message cannot be a CloudEvent: the dead-letter reason. */
  refused?: string;
  /** The `datacontenttype` attribute, for a message without a content-type property. */
  dataContentType?: string;
}

/** The route's `ce-*` headers, kept apart from its other headers in `body: cloudevents` mode. */
export type CloudEventDefaults = Array<[attribute: string, headerValue: string]>;

/** A route header that names a CloudEvents attribute: `ce-type` → `type`; otherwise undefined. */
export function defaultAttribute(headerName: string): string | undefined {
  const lower = headerName.toLowerCase();
  if (!lower.startsWith('ce-')) return undefined;
  const attribute = lower.slice(3);
  return attributeName.test(attribute) ? attribute : undefined;
}

/**
 * Appends the message's `ce-*` headers to `headers` (undici's flat name/value list). The few
 * attributes are tracked in a short array: cheaper than a Set for a handful of names. `id` is the
 * request's `webhook-id`, the default of the `id` attribute.
 */
export function appendCloudEventHeaders(
  d: Delivery,
  id: string,
  defaults: CloudEventDefaults,
  headers: string[],
): CloudEventsResult {
  const seen: string[] = [];
  const result: CloudEventsResult = {};
  for (const name in d.headers) {
    if (!isAttributeHeader(name)) continue;
    const attribute = name.slice(prefixLength).toLowerCase();
    if (!attributeName.test(attribute)) {
      return { refused: `cloudevents: AMQP header ${name} does not name a valid attribute (a-z, 0-9)` };
    }
    const text = canonicalText(d.headers[name]);
    // An empty value is no value: the spec wants required and optional attributes non-empty.
    if (text === '' || seen.includes(attribute)) continue;
    seen.push(attribute);
    if (attribute === 'datacontenttype') result.dataContentType = text;
    else headers.push(`ce-${attribute}`, percentEncode(text));
  }
  for (const [attribute, value] of defaults) {
    if (seen.includes(attribute)) continue;
    seen.push(attribute);
    if (attribute === 'datacontenttype') result.dataContentType ??= value;
    else headers.push(`ce-${attribute}`, value);
  }
  if (!seen.includes('id')) headers.push('ce-id', percentEncode(id));
  if (!seen.includes('specversion')) headers.push('ce-specversion', '1.0');
  const missing = ['source', 'type'].filter((a) => !seen.includes(a));
  if (missing.length > 0) {
    const list = missing.join(' and ');
    const where = missing.map((a) => `cloudEvents_${a}`).join(', ');
    return {
      refused: `cloudevents: no ${list} attribute (AMQP header ${where}, or ce-${missing[0]} in the route's headers)`,
    };
  }
  return result;
}

function isAttributeHeader(name: string): boolean {
  return name.startsWith('cloudEvents_') || name.startsWith('cloudEvents:');
}

/**
 * An attribute's canonical string (CloudEvents "Type System") from what amqplib decoded: AMQP
 * timestamps as RFC 3339, binary as base64, booleans and integers as their literals.
 */
export function canonicalText(value: unknown): string {
  if (isBytes(value)) return value.toString('base64');
  const text = headerText(value, 'scalars');
  if (text !== undefined) return text;
  if (value instanceof Date) return rfc3339(value);
  const seconds = timestampSeconds(value);
  if (seconds !== undefined) return rfc3339(timestampDate(seconds));
  return value === undefined || value === null ? '' : jsonText(value);
}

function rfc3339(date: Date | undefined): string {
  return date === undefined || Number.isNaN(date.getTime()) ? '' : date.toISOString().replace('.000Z', 'Z');
}

/** Not an attribute type: its JSON text. */
function jsonText(value: unknown): string {
  try {
    // undefined when a toJSON a table inherited gives nothing.
    return JSON.stringify(value) ?? '';
  } catch {
    // A table amqplib gave a Buffer as prototype (a key `__proto__`), whose toJSON throws, or
    // one nested deeper than the stack reaches: no value.
    return '';
  }
}
