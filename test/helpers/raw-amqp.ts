import { connect, type Socket } from 'node:net';
import { amqpUrl } from './broker.js';

/**
 * A minimal AMQP 0-9-1 publisher over node:net, with full control over the bytes of the content
 * header: it publishes what amqplib cannot encode (and a hostile publisher can), so tests can
 * hand Warren messages amqplib decodes but cannot encode again. Publishes with confirms; no
 * consuming, no heartbeats, one channel.
 */

/** A field value with its AMQP type tag (RabbitMQ's table types). */
export type RawValue =
  | { t: 'S'; v: string | Buffer }
  | { t: 'd'; v: number }
  | { t: 'I'; v: number }
  | { t: 'l'; v: bigint }
  | { t: 't'; v: boolean }
  | { t: 'x'; v: Buffer }
  | { t: 'V' }
  | { t: 'A'; v: RawValue[] }
  | { t: 'F'; v: RawTable };

/** A field table as written on the wire: keys are raw bytes (need not be UTF-8), order kept. */
export type RawTable = Array<[key: string | Buffer, value: RawValue]>;

export interface RawProperties {
  contentType?: string;
  messageId?: string | Buffer;
  correlationId?: string | Buffer;
  /** 2 by default (persistent). */
  deliveryMode?: number;
  headers?: RawTable;
}

export interface RawMessage {
  exchange: string;
  routingKey: string | Buffer;
  body: string | Buffer;
  properties?: RawProperties;
}

const bytes = (v: string | Buffer): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8'));

function shortstr(v: string | Buffer): Buffer {
  const b = bytes(v);
  if (b.length > 255) throw new Error(`shortstr of ${b.length} bytes`);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function longstr(v: string | Buffer): Buffer {
  const b = bytes(v);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

const u8 = (n: number) => Buffer.from([n]);
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

export function encodeValue(value: RawValue): Buffer {
  const tag = Buffer.from(value.t, 'latin1');
  switch (value.t) {
    case 'S':
      return Buffer.concat([tag, longstr(value.v)]);
    case 'x':
      return Buffer.concat([tag, longstr(value.v)]);
    case 'd': {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(value.v);
      return Buffer.concat([tag, b]);
    }
    case 'I': {
      const b = Buffer.alloc(4);
      b.writeInt32BE(value.v);
      return Buffer.concat([tag, b]);
    }
    case 'l': {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(value.v);
      return Buffer.concat([tag, b]);
    }
    case 't':
      return Buffer.concat([tag, u8(value.v ? 1 : 0)]);
    case 'V':
      return tag;
    case 'A': {
      const items = Buffer.concat(value.v.map(encodeValue));
      return Buffer.concat([tag, u32(items.length), items]);
    }
    case 'F':
      return Buffer.concat([tag, encodeTable(value.v)]);
  }
}

/** A field table: its 4-byte length, then each key (shortstr of raw bytes) and tagged value. */
export function encodeTable(table: RawTable): Buffer {
  const parts = table.map(([key, value]) => Buffer.concat([shortstr(key), encodeValue(value)]));
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

function frame(type: number, channel: number, payload: Buffer): Buffer {
  return Buffer.concat([u8(type), u16(channel), u32(payload.length), payload, u8(0xce)]);
}

const method = (channel: number, classId: number, methodId: number, args: Buffer) =>
  frame(1, channel, Buffer.concat([u16(classId), u16(methodId), args]));

function contentHeader(channel: number, bodySize: number, p: RawProperties): Buffer {
  let flags = 0;
  const list: Buffer[] = [];
  if (p.contentType !== undefined) {
    flags |= 1 << 15;
    list.push(shortstr(p.contentType));
  }
  if (p.headers !== undefined) {
    flags |= 1 << 13;
    list.push(encodeTable(p.headers));
  }
  flags |= 1 << 12;
  list.push(u8(p.deliveryMode ?? 2));
  if (p.correlationId !== undefined) {
    flags |= 1 << 10;
    list.push(shortstr(p.correlationId));
  }
  if (p.messageId !== undefined) {
    flags |= 1 << 7;
    list.push(shortstr(p.messageId));
  }
  const payload = Buffer.concat([u16(60), u16(0), u64(BigInt(bodySize)), u16(flags), ...list]);
  return frame(2, channel, payload);
}

interface Frame {
  type: number;
  channel: number;
  classId: number;
  methodId: number;
  payload: Buffer;
}

/** The broker's reason when `f` is a Connection.Close or Channel.Close. */
function closeText(f: Frame): string | undefined {
  if (f.type !== 1 || (f.classId !== 10 && f.classId !== 20) || f.methodId !== 40) return undefined;
  const code = f.payload.readUInt16BE(4);
  const text = f.payload.subarray(7, 7 + f.payload[6]!).toString();
  return `broker closed the ${f.classId === 10 ? 'connection' : 'channel'}: ${code} ${text}`;
}

/** Reads frames off the socket and hands them to whoever waits. */
class FrameReader {
  #buffer = Buffer.alloc(0);
  readonly #frames: Frame[] = [];
  #waiting: ((f: Frame) => void) | undefined;
  #failed: Error | undefined;
  #fail: ((err: Error) => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 7) {
        const size = this.#buffer.readUInt32BE(3);
        if (this.#buffer.length < size + 8) break;
        const payload = this.#buffer.subarray(7, 7 + size);
        const f: Frame = {
          type: this.#buffer[0]!,
          channel: this.#buffer.readUInt16BE(1),
          classId: this.#buffer[0] === 1 ? payload.readUInt16BE(0) : 0,
          methodId: this.#buffer[0] === 1 ? payload.readUInt16BE(2) : 0,
          payload: Buffer.from(payload),
        };
        this.#buffer = this.#buffer.subarray(size + 8);
        if (f.type === 8) continue; // heartbeat
        this.#frames.push(f);
      }
      this.#deliver();
    });
    const fail = (err: Error) => {
      this.#failed ??= err;
      this.#fail?.(this.#failed);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('socket closed')));
  }

  #deliver(): void {
    if (this.#waiting && this.#frames.length > 0) {
      const w = this.#waiting;
      this.#waiting = undefined;
      this.#fail = undefined;
      w(this.#frames.shift()!);
    }
  }

  next(timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame from the broker')), timeoutMs);
      this.#waiting = (f) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.#fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      if (this.#failed && this.#frames.length === 0) this.#fail(this.#failed);
      else this.#deliver();
    });
  }

  /** The next method frame, which must be `classId.methodId`; a Close from the broker fails. */
  async expect(classId: number, methodId: number): Promise<Frame> {
    const f = await this.next();
    const closed = closeText(f);
    if (closed) throw new Error(closed);
    if (f.type !== 1 || f.classId !== classId || f.methodId !== methodId)
      throw new Error(
        `expected method ${classId}.${methodId}, got frame ${f.type} ${f.classId}.${f.methodId}`,
      );
    return f;
  }
}

/**
 * Publishes each message on one channel with confirms and closes the connection; rejects when the
 * broker nacks one, closes the channel or the connection. Resolves with the negotiated frame size.
 */
export async function rawPublish(messages: RawMessage[], url = amqpUrl): Promise<{ frameMax: number }> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port || 5672) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const reader = new FrameReader(socket);
  try {
    socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    await reader.expect(10, 10); // Connection.Start
    const user = decodeURIComponent(u.username || 'guest');
    const pass = decodeURIComponent(u.password || 'guest');
    socket.write(
      method(
        0,
        10,
        11,
        Buffer.concat([encodeTable([]), shortstr('PLAIN'), longstr(`\0${user}\0${pass}`), shortstr('en_US')]),
      ),
    );
    const tune = await reader.expect(10, 30);
    const channelMax = tune.payload.readUInt16BE(4);
    const frameMax = tune.payload.readUInt32BE(6) || 131_072;
    socket.write(method(0, 10, 31, Buffer.concat([u16(channelMax), u32(frameMax), u16(0)])));
    const vhost = decodeURIComponent(u.pathname.slice(1)) || '/';
    socket.write(method(0, 10, 40, Buffer.concat([shortstr(vhost), shortstr(''), u8(0)])));
    await reader.expect(10, 41);
    socket.write(method(1, 20, 10, shortstr('')));
    await reader.expect(20, 11);
    socket.write(method(1, 85, 10, u8(0))); // Confirm.Select
    await reader.expect(85, 11);
    for (const m of messages) {
      const body = bytes(m.body);
      socket.write(
        method(1, 60, 40, Buffer.concat([u16(0), shortstr(m.exchange), shortstr(m.routingKey), u8(0)])),
      );
      socket.write(contentHeader(1, body.length, m.properties ?? {}));
      const max = frameMax - 8;
      for (let at = 0; at < body.length; at += max) socket.write(frame(3, 1, body.subarray(at, at + max)));
      const confirm = await reader.next();
      if (confirm.type === 1 && confirm.classId === 60 && confirm.methodId === 80) continue;
      if (confirm.type === 1 && confirm.classId === 60 && confirm.methodId === 120)
        throw new Error('broker nacked the publish');
      throw new Error(
        closeText(confirm) ?? `no confirm: frame ${confirm.type} ${confirm.classId}.${confirm.methodId}`,
      );
    }
    socket.write(method(0, 10, 50, Buffer.concat([u16(200), shortstr('bye'), u16(0), u16(0)])));
    await reader.expect(10, 51);
    return { frameMax };
  } finally {
    socket.destroy();
  }
}
