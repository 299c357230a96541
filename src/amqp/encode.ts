import { createRequire } from 'node:module';
import type { Options } from 'amqplib';
import { isBytes, ownHeaders, typedKind } from './headers.js';

/**
 * The one place that knows what amqplib (0.10) can encode. amqplib decodes some values it cannot
 * encode again, and its `ConfirmChannel.publish` queues the confirm callback BEFORE it encodes: a
 * publish that throws there shifts every later confirm of the channel onto the wrong message. So
 * every publish is first encoded here, by amqplib's own encoder, on a scratch buffer.
 */

interface AmqplibDefs {
  BasicProperties: number;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
}

const require = createRequire(import.meta.url);
// The modules `ChannelModel.publish` itself calls (channel_model.js, channel.js, connection.js).
const defs = require('amqplib/lib/defs.js') as AmqplibDefs;
const args = require('amqplib/lib/api_args.js') as {
  publish(exchange: string, routingKey: string, options: Options.Publish): Record<string, unknown>;
};
const codec = require('amqplib/lib/codec.js') as {
  encodeTable(buffer: Buffer, table: unknown, offset: number): number;
};

/**
 * amqplib encodes a message's headers into one 64 KiB scratch buffer (`SCRATCH` in defs.js): past
 * it a write throws or, for a string, is silently cut (a corrupt frame that closes the connection).
 * The broker accepts headers up to its frame size, so such headers arrive but cannot leave again.
 */
export const headersLimit = 65_536;
/** Room kept free when headers are cut to fit: Warren's own annotations and publish id. */
const annotationRoom = 4_096;
/** Same size as amqplib's: `encodeTable` returns the true size even where it cut a string. */
const scratch = Buffer.alloc(headersLimit);
/** The smallest number amqplib encodes as a signed 64-bit `long`; below it (and NaN, -Infinity)
 * its integer guess throws, although the value arrived as a double. */
const minLong = -0x8000000000000000;

/** A header Warren had to leave out of a copy, and why. */
export interface DroppedHeader {
  name: string;
  why: string;
}

/** Typed values Warren made (`{'!': type, value}`): never retyped a second time. */
const typedByWarren = new WeakSet<object>();

function typed(type: string, value: unknown): object {
  const t = { '!': type, value };
  typedByWarren.add(t);
  return t;
}

/** A value as amqplib must be given it to send exactly what arrived (copy-on-write). */
function retype(v: unknown): unknown {
  // -0 too: amqplib would send it as the integer 0.
  if (typeof v === 'number') return v >= minLong && !Object.is(v, -0) ? v : typed('double', v);
  if (typeof v !== 'object' || v === null || isBytes(v) || typedByWarren.has(v)) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = retype(v[i]);
      if (r === v[i]) continue;
      out ??= v.slice();
      out[i] = r;
    }
    return out ?? v;
  }
  // By own keys: a nested key `__proto__` is the table's prototype once amqplib decoded it (a new
  // plain object then, so the copy sends the table's own fields and amqplib never sees the Buffer).
  const table = ownHeaders(v as Record<string, unknown>);
  const inner = retypeTable(table);
  // A nested table with a key `!` would be taken for amqplib's typed-value trapdoor: wrap it as
  // an explicit table, which encodes its keys (`!` included) as they are.
  if (Object.hasOwn(table, '!') && typedKind(table) === undefined) return typed('object', inner);
  return inner;
}

function retypeTable(table: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const name of Object.keys(table)) {
    const value = table[name];
    const r = retype(value);
    if (r === value) continue;
    out ??= { ...table };
    out[name] = r;
  }
  return out ?? table;
}

/**
 * The headers as amqplib must be given them to send exactly the values that arrived: a double
 * amqplib would take for an out-of-range integer, and a nested table with a key `!`, become typed
 * values. The same object when nothing needed it (the usual case: one pass over the top level).
 */
export function retypeHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return retypeTable(headers);
}

/**
 * Why amqplib could not send this publish — undefined when it can. Exact: the same checks and
 * encoder amqplib's `publish` runs (the method's two shortstrs, the properties, the header
 * table), plus the two limits amqplib does not check itself (its 64 KiB header buffer and the
 * connection's frame size). Per publish it costs about a third of amqplib's own encoding.
 */
export function encodingProblem(
  exchange: string,
  routingKey: string,
  properties: Options.Publish,
  frameMax: number,
): string | undefined {
  // CC and BCC go into the headers in Args.publish: take amqplib's own path (Warren sets neither).
  if (properties.CC !== undefined || properties.BCC !== undefined)
    return encodingProblemOf(
      exchange,
      routingKey,
      args.publish(exchange, routingKey, properties),
      properties,
      frameMax,
    );
  // The fields Args.publish makes, without its Object.create over the headers (a prototype per
  // call, and a for-in over a prototype chain, cost more than the whole check).
  const p = properties as Record<string, unknown>;
  const fields: Record<string, unknown> = {
    exchange,
    routingKey,
    mandatory: !!p.mandatory,
    immediate: false,
    headers: p.headers,
    deliveryMode:
      p.persistent !== undefined
        ? p.persistent
          ? 2
          : 1
        : typeof p.deliveryMode === 'number'
          ? p.deliveryMode
          : p.deliveryMode
            ? 2
            : undefined,
    expiration: p.expiration === undefined ? undefined : String(p.expiration),
  };
  for (const key of otherProperties) fields[key] = p[key];
  return encodingProblemOf(exchange, routingKey, fields, properties, frameMax);
}

/** The properties Args.publish copies as they are. */
const otherProperties = [
  'contentType',
  'contentEncoding',
  'priority',
  'correlationId',
  'replyTo',
  'messageId',
  'timestamp',
  'type',
  'userId',
  'appId',
  'clusterId',
] as const;

function encodingProblemOf(
  exchange: string,
  routingKey: string,
  fields: Record<string, unknown>,
  properties: Options.Publish,
  frameMax: number,
): string | undefined {
  // Method frame: encodeMethod(BasicPublish) checks exactly these two shortstrs (and booleans
  // and a ticket Warren never sets).
  if (typeof exchange !== 'string' || typeof routingKey !== 'string')
    return 'exchange or routing key cannot be encoded';
  const keyProblem = tooLong('exchange', exchange) ?? tooLong('routing key', routingKey);
  if (keyProblem !== undefined) return keyProblem;
  let headersSize = 0;
  if (fields.headers !== undefined) {
    try {
      headersSize = codec.encodeTable(scratch, fields.headers, 0);
    } catch {
      return headersText(properties.headers ?? {});
    }
    if (headersSize > headersLimit) return headersText(properties.headers ?? {});
  }
  fields.headers = undefined;
  let frame: Buffer;
  try {
    frame = defs.encodeProperties(defs.BasicProperties, 0, 0, fields);
  } catch {
    return `properties cannot be re-encoded: ${propertyProblems(properties).join('; ') || 'invalid properties'}`;
  }
  if (frame.length + headersSize > frameMax)
    return `headers cannot be re-encoded: ${headersSize} bytes of headers exceed the connection's frame size (${frameMax})`;
  return undefined;
}

/**
 * `encodingProblem` for a publish about to be made, before the publisher retypes its headers and
 * adds its own: lets a caller with several copies refuse them all before publishing any.
 */
export function copyProblem(
  exchange: string,
  routingKey: string,
  properties: Options.Publish,
): string | undefined {
  const headers = properties.headers ? retypeHeaders(properties.headers) : undefined;
  return encodingProblem(
    exchange,
    routingKey,
    { ...properties, ...(headers ? { headers } : {}) },
    defaultFrameMax,
  );
}

/** amqplib's default frame size (the publisher checks against the negotiated one). */
const defaultFrameMax = 131_072;

function tooLong(what: string, value: string): string | undefined {
  const bytes = Buffer.byteLength(value);
  return bytes > 255 ? `${what} is ${bytes} bytes once decoded, over 255` : undefined;
}

function headersText(headers: Record<string, unknown>): string {
  const problems = headerProblems(headers);
  const text = problems.length > 0 ? describeDropped(problems) : 'invalid header table';
  return `headers cannot be re-encoded: ${text}`;
}

/** Shortstr properties amqplib refuses past 255 bytes (invalid UTF-8 grows threefold when decoded). */
const shortProperties = [
  'contentType',
  'contentEncoding',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'type',
  'userId',
  'appId',
  'clusterId',
] as const;

function propertyProblems(properties: Options.Publish): string[] {
  const out: string[] = [];
  for (const key of shortProperties) {
    const v = (properties as Record<string, unknown>)[key];
    if (typeof v === 'string') {
      const why = tooLong(key, v);
      if (why) out.push(why);
    }
  }
  return out;
}

/** The properties with every shortstr amqplib would refuse left out; the list of what went. */
export function encodableProperties(properties: Options.Publish): {
  properties: Options.Publish;
  dropped: DroppedHeader[];
} {
  const out: Record<string, unknown> = { ...properties };
  const dropped: DroppedHeader[] = [];
  for (const key of shortProperties) {
    const v = out[key];
    if (typeof v !== 'string') continue;
    const why = tooLong(key, v);
    if (why) {
      delete out[key];
      dropped.push({ name: `property ${key}`, why });
    }
  }
  return { properties: out as Options.Publish, dropped };
}

/** The encoded size of one header, or why it cannot be encoded. */
function measure(name: string, value: unknown): number | string {
  const bytes = Buffer.byteLength(name);
  if (bytes > 255) return `name is ${bytes} bytes once decoded, over 255`;
  const one: Record<string, unknown> = Object.create(null);
  one[name] = retype(value);
  try {
    return codec.encodeTable(scratch, one, 0) - 4;
  } catch (err) {
    const text = (err as Error).message;
    return /<= 255/.test(text)
      ? 'a field name inside it is over 255 bytes once decoded'
      : `cannot be encoded (${text})`;
  }
}

/** Every header that cannot be sent on its own; when all can but together they are too large, the
 * largest ones. */
export function headerProblems(headers: Record<string, unknown>): DroppedHeader[] {
  return encodableHeaders(headers, () => false).dropped;
}

/**
 * Headers amqplib can send: each header that cannot be encoded is left out, then the largest ones
 * until the table fits its 64 KiB buffer (with room for Warren's annotations); names for which
 * `keep` is true (Warren's own) are never left out. Values are retyped as in `retypeHeaders`.
 */
export function encodableHeaders(
  headers: Record<string, unknown>,
  keep: (name: string) => boolean,
): { headers: Record<string, unknown>; dropped: DroppedHeader[] } {
  const out: Record<string, unknown> = {};
  const dropped: DroppedHeader[] = [];
  const sizes: Array<{ name: string; size: number }> = [];
  let total = 4;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const size = measure(name, value);
    if (typeof size === 'string') {
      if (!keep(name)) dropped.push({ name, why: size });
      continue;
    }
    out[name] = retype(value);
    total += size;
    if (!keep(name)) sizes.push({ name, size });
  }
  const budget = headersLimit - annotationRoom;
  if (total > budget) {
    const before = total;
    sizes.sort((a, b) => b.size - a.size);
    for (const { name, size } of sizes) {
      if (total <= budget) break;
      delete out[name];
      total -= size;
      dropped.push({ name, why: `${size} bytes; all headers were ${before} bytes, over ${headersLimit}` });
    }
  }
  return { headers: out, dropped };
}

/** A header name fit for a log line or an annotation (decoded invalid UTF-8 is long and unreadable). */
function shown(name: string): string {
  return name.length > 40 ? `${name.slice(0, 24)}…(${Buffer.byteLength(name)} bytes)` : name;
}

/** `name: why; name: why`, at most about 1,000 characters. */
export function describeDropped(dropped: DroppedHeader[]): string {
  const text = dropped.map((d) => `${shown(d.name)}: ${d.why}`).join('; ');
  return text.length > 1_000 ? `${text.slice(0, 1_000)}…` : text;
}
