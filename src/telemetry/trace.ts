import { randomBytes, randomFillSync } from 'node:crypto';
import { headerText } from '../amqp/headers.js';

/**
 * Version 00 is exactly 55 characters. A later version (never `ff`) may append fields after a dash:
 * W3C Trace Context says to read its first four fields as version 00's and go on with the trace.
 */
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/s;

/**
 * A W3C traceparent if the value is a valid one (not all-zero ids), else undefined. One of a later
 * version comes back as version 00, the only one Warren writes, with the same ids and flags.
 */
export function validTraceparent(value: unknown): string | undefined {
  const text = headerText(value)?.trim();
  if (text === undefined) return undefined;
  const match = traceparentPattern.exec(text);
  if (!match || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  const [, version, traceId, spanId, flags, more] = match;
  if (version === '00') return more === undefined ? text : undefined;
  if (version === 'ff') return undefined;
  return `00-${traceId}-${spanId}-${flags}`;
}

/**
 * W3C tracestate: up to 32 comma-separated `key=value` members (empty ones allowed, spaces and tabs
 * around them), each key a simple or `tenant@system` key, each value printable ASCII without `,`
 * and `=` that does not end in a space. Anything else is not forwarded (the spec says to drop an
 * invalid tracestate). One regex over the whole list: no split per message.
 */
const member =
  '(?:[a-z][a-z0-9_\\-*/]{0,255}|[a-z0-9][a-z0-9_\\-*/]{0,240}@[a-z][a-z0-9_\\-*/]{0,13})=[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,255}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]';
// Spaces before a comma belong to the member before it, spaces after it to the list: each space
// has one place to go. (`[ \t]*` on both sides of the comma let a run of spaces split in
// exponentially many ways: ' , , , …\x01' of 55 characters held the event loop for 28 s.)
const tracestateList = new RegExp(`^[ \\t]*(?:${member}[ \\t]*)?(?:,[ \\t]*(?:${member}[ \\t]*)?)*$`);
const anyMember = /=/;
/** 32 members of at most 256 + 256 characters, with their commas and some spaces around them. */
const maxTracestateChars = 32 * 514 + 256;

export function isValidTracestate(value: string): boolean {
  if (value.length > maxTracestateChars) return false;
  if (!tracestateList.test(value) || !anyMember.test(value)) return false;
  // At most 32 members: count the commas only when there can be more.
  let commas = 0;
  for (let at = value.indexOf(','); at !== -1; at = value.indexOf(',', at + 1)) commas++;
  return commas < 32 || value.split(',').filter((m) => m.trim() !== '').length <= 32;
}

// One randomFillSync and one hex encoding per 512 traceparents: a pair of randomBytes calls per
// message cost ~16 µs, and two hex encodings per message still cost more than the slicing.
const perPool = 512;
const pool = Buffer.alloc(24 * perPool);
let hex = '';
let next = perPool;

export function newTraceparent(): string {
  if (next === perPool) {
    randomFillSync(pool);
    hex = pool.toString('hex');
    next = 0;
  }
  const at = next * 48;
  next++;
  return `00-${hex.slice(at, at + 32)}-${hex.slice(at + 32, at + 48)}-01`;
}

export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

// Ids for spans from one pool of random bytes, refilled 4 KiB at a time: a randomBytes call per id
// costs more than the span does.
let idPool = '';
let idAt = 0;

/** `chars` random lowercase hex characters (16 for a span id, 32 for a trace id). */
export function randomHex(chars: number): string {
  if (idAt + chars > idPool.length) {
    idPool = randomBytes(4096).toString('hex');
    idAt = 0;
  }
  const id = idPool.slice(idAt, idAt + chars);
  idAt += chars;
  return id;
}
