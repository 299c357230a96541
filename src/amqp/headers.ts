/**
 * The one reader of AMQP header values, as amqplib (0.10) decodes them: a long string as a string,
 * a byte array as a Buffer, every integer and float type as a number (64-bit ones rounded), void as
 * null, tables and arrays as objects and arrays, and two typed values — a timestamp
 * `{ '!': 'timestamp', value: seconds }` and a decimal `{ '!': 'decimal', value: { places, digits } }`.
 * What amqplib can encode again is encode.ts's business; it reads the typed values the same way.
 *
 * Any value a publisher can send reaches these readers, and none of them throws. amqplib assigns a
 * table's keys to a plain object, so a key `__proto__` becomes the table's prototype: a table can
 * pass `Buffer.isBuffer` (and throw from every Buffer method) or inherit keys it does not own.
 */

/** A real byte array. `Buffer.isBuffer` alone takes a table whose prototype is a Buffer for one. */
export function isBytes(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && ArrayBuffer.isView(value);
}

/**
 * A header table by its own keys. amqplib makes a key `__proto__` the table's prototype; a for-in
 * loop over the table then walks what the prototype holds (a Buffer's methods and getters, which
 * throw). A plain object cannot carry a header of that name: it is left out. The same object in
 * the usual case (one prototype check per message).
 */
export function ownHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(headers);
  if (proto === Object.prototype || proto === null) return headers;
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(headers)) out[name] = headers[name];
  return out;
}

/**
 * What `headerText` reads as text besides strings and byte arrays (UTF-8): `strings` nothing else,
 * `numbers` numbers too, `scalars` numbers, booleans and bigints too (each as its literal).
 */
export type TextRule = 'strings' | 'numbers' | 'scalars';

/** A header as text, or undefined when the rule does not read its type as text. */
export function headerText(value: unknown, rule: TextRule = 'strings'): string | undefined {
  if (typeof value === 'string') return value;
  if (isBytes(value)) return value.toString('utf8');
  if (rule === 'strings') return undefined;
  if (typeof value === 'number') return String(value);
  if (rule === 'numbers') return undefined;
  return typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : undefined;
}

/** A finite number: a number as it is, a string or byte array as `Number` reads it. */
export function headerNumber(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number(headerText(value));
  return Number.isFinite(n) ? n : undefined;
}

/** `headerNumber` when it is an integer. */
export function headerInteger(value: unknown): number | undefined {
  const n = headerNumber(value);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

/**
 * The kind of typed value amqplib decoded this into, judged by its exact shape (own keys, number
 * fields): decoded, a publisher's table of the same two keys cannot be told apart from one.
 */
export function typedKind(value: unknown): 'timestamp' | 'decimal' | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!Object.hasOwn(v, '!') || !Object.hasOwn(v, 'value') || Object.keys(v).length !== 2) return undefined;
  if (v['!'] === 'timestamp') return typeof v.value === 'number' ? 'timestamp' : undefined;
  if (v['!'] !== 'decimal') return undefined;
  const d = v.value as Record<string, unknown> | null;
  return typeof d === 'object' &&
    d !== null &&
    Object.hasOwn(d, 'places') &&
    Object.hasOwn(d, 'digits') &&
    typeof d.places === 'number' &&
    typeof d.digits === 'number'
    ? 'decimal'
    : undefined;
}

/** An AMQP timestamp's Unix seconds (a u64, up to about 1.8e19), or undefined for any other value. */
export function timestampSeconds(value: unknown): number | undefined {
  return typedKind(value) === 'timestamp' ? (value as { value: number }).value : undefined;
}

/** The date of a timestamp's seconds; undefined past the range of a Date (±8.64e12 seconds). */
export function timestampDate(seconds: number): Date | undefined {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A decimal's value as a number (amqplib decodes `places` and an unsigned 32-bit `digits`). */
function decimalNumber(value: unknown): number {
  const { places, digits } = (value as { value: { places: number; digits: number } }).value;
  return digits / 10 ** places;
}

/**
 * How `headerJson` writes what JSON has no form for. Callers differ, each for its reader:
 * `bytes` as `base64` or as UTF-8 `text`; timestamps as Unix `seconds`, as `iso` text (the seconds
 * when no Date can hold them), or `typed` as amqplib decoded them (sent back, they stay timestamps);
 * decimals as a `number` or `typed`.
 */
export interface JsonRule {
  bytes: 'base64' | 'text';
  timestamps: 'seconds' | 'iso' | 'typed';
  decimals: 'number' | 'typed';
}

/**
 * Tables and arrays deeper than this are written as null. amqplib decodes a header nested about
 * 4,000 levels deep (a frame holds that many), deeper than JSON.stringify or a walk like this one
 * reaches before the stack runs out; no header Warren or the broker writes nests past 3.
 */
export const maxJsonDepth = 1_000;

/**
 * A header value as JSON: what `JSON.parse(JSON.stringify(...))` gives back unchanged. Besides the
 * rule's forms: non-finite numbers as null, -0 as 0, a bigint as a number when it is safe (else its
 * digits), a Date as ISO text (null when invalid), a table by its own keys; undefined, functions
 * and symbols as undefined (left out of a table, null in an array), like JSON.stringify.
 */
export function headerJson(value: unknown, rule: JsonRule): unknown {
  return jsonOf(value, rule, 0);
}

function jsonOf(value: unknown, rule: JsonRule, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // + 0: -0 becomes 0, as JSON writes it.
      return Number.isFinite(value) ? value + 0 : null;
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : `${value}`;
    case 'object':
      return value === null || depth > maxJsonDepth ? null : objectJson(value, rule, depth + 1);
    default:
      return undefined;
  }
}

function objectJson(value: object, rule: JsonRule, depth: number): unknown {
  if (isBytes(value)) return value.toString(rule.bytes === 'base64' ? 'base64' : 'utf8');
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = jsonOf(value[i], rule, depth) ?? null;
    return out;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  const kind = typedKind(value);
  if (kind === 'timestamp' && rule.timestamps !== 'typed') {
    const seconds = (value as { value: number }).value;
    const date = rule.timestamps === 'iso' ? timestampDate(seconds) : undefined;
    return date ? date.toISOString() : jsonOf(seconds, rule, depth);
  }
  if (kind === 'decimal' && rule.decimals === 'number') return jsonOf(decimalNumber(value), rule, depth);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = jsonOf((value as Record<string, unknown>)[key], rule, depth);
    if (v === undefined) continue;
    // Assigning a key `__proto__` would set the prototype and lose the key.
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true });
    else out[key] = v;
  }
  return out;
}

/**
 * Headers the broker adds when it dead-letters a message: they describe a trip, not the message,
 * so the copies Warren publishes and the webhook envelope leave them out.
 */
export function isBrokerBookkeeping(name: string): boolean {
  return (
    name === 'x-death' ||
    name === 'x-delivery-count' ||
    name.startsWith('x-first-death-') ||
    name.startsWith('x-last-death-')
  );
}
