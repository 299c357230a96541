import type { HrTime } from '@opentelemetry/api';

/**
 * A protobuf writer into one growing buffer, for the OTLP that `otel-proto.ts` writes: the same
 * encoding as the SDK's `ProtobufWriter` (`@opentelemetry/otlp-transformer`), varint for varint.
 */

export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  tag(field: number, wire: number): void {
    const tag = (field << 3) | wire;
    if (tag > 0x7f) this.varint(tag);
    else {
      this.ensure(1);
      this.buf[this.pos++] = tag;
    }
  }

  varint(value: number): void {
    this.ensure(10);
    const b = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        b[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[this.pos++] = v;
      return;
    }
    // Two's complement over 64 bits, as the SDK writes an int64 beyond 32 bits or below 0.
    const abs = Math.abs(value);
    let low = abs >>> 0;
    let high = (abs / 0x100000000) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 0x7f) {
      b[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    b[this.pos++] = low & 0x7f;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(low: number, high: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** Nanoseconds since the epoch as fixed64, split so every product stays an exact integer. */
  time(t: HrTime): void {
    const [seconds, nanos] = t;
    const fromLow = (seconds & 0xffff) * 1e9;
    const fromHigh = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (fromLow >>> 0) + (((fromHigh & 0xffff) * 0x10000) >>> 0) + nanos;
    const carry = Math.floor(low / 0x100000000);
    this.fixed64(low >>> 0, (Math.floor(fromLow / 0x100000000) + ((fromHigh / 0x10000) >>> 0) + carry) >>> 0);
  }

  string(s: string): void {
    const len = s.length;
    // ASCII (every string Warren writes but a user's routing key or reason): the length is the
    // character count, written in one pass; otherwise back to the start and UTF-8.
    if (len < 0x80) {
      this.ensure(1 + len);
      const b = this.buf;
      const at = this.pos;
      let p = at + 1;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) {
          p = -1;
          break;
        }
        b[p++] = c;
      }
      if (p !== -1) {
        b[at] = len;
        this.pos = p;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }

  /** An id in lowercase hex (as Warren makes and accepts them) as its bytes, length-delimited. */
  hex(id: string): void {
    const n = id.length >> 1;
    this.ensure(1 + n);
    const b = this.buf;
    let p = this.pos;
    b[p++] = n; // ids are 8 or 16 bytes: a one-byte length
    for (let i = 0; i < 2 * n; i += 2)
      b[p++] = (hexValue[id.charCodeAt(i)]! << 4) | hexValue[id.charCodeAt(i + 1)]!;
    this.pos = p;
  }

  /** Bytes written before, as they are. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    if (n < 32) for (let i = 0; i < n; i++) this.buf[this.pos++] = bytes[i]!;
    else {
      this.buf.set(bytes, this.pos);
      this.pos += n;
    }
  }

  /** Reserves one byte for a length: `finish` writes it, moving what follows if it needs more. */
  start(): number {
    this.ensure(1);
    return this.pos++;
  }

  finish(at: number): void {
    const length = this.pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    let v = length;
    let p = at;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
  }
}

/** The SDK's reading of a hex digit: 0-9, a-f, and anything else as if A-F. */
const hexValue = new Uint8Array(65536);
for (let c = 0; c < 65536; c++)
  hexValue[c] = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : (c - 55) & 0xff;

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** A varint's bytes, for a length written before what it measures. */
export function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
