import { randomFillSync } from 'node:crypto';

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** A W3C traceparent if the value is a valid one (not all-zero ids), else undefined. */
export function validTraceparent(value: unknown): string | undefined {
  const text = Buffer.isBuffer(value) ? value.toString() : value;
  if (typeof text !== 'string') return undefined;
  const match = traceparentPattern.exec(text.trim());
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return undefined;
  return text.trim();
}

// One randomFillSync per 512 traceparents: a pair of randomBytes calls per message cost ~16 µs.
const pool = Buffer.alloc(24 * 512);
let offset = pool.length;

export function newTraceparent(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const traceId = pool.toString('hex', offset, offset + 16);
  const spanId = pool.toString('hex', offset + 16, offset + 24);
  offset += 24;
  return `00-${traceId}-${spanId}-01`;
}

export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}
