import { randomBytes } from 'node:crypto';

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** A W3C traceparent if the value is a valid one (not all-zero ids), else undefined. */
export function validTraceparent(value: unknown): string | undefined {
  const text = Buffer.isBuffer(value) ? value.toString() : value;
  if (typeof text !== 'string') return undefined;
  const match = traceparentPattern.exec(text.trim());
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return undefined;
  return text.trim();
}

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}
