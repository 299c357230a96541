import { createRequire } from 'node:module';
import type { ConsumeMessage } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodingProblem, retypeHeaders } from '../../src/amqp/encode.js';
import {
  headerInteger,
  headerJson,
  headerNumber,
  headerText,
  isBrokerBookkeeping,
  isBytes,
  type JsonRule,
  maxJsonDepth,
  ownHeaders,
  type TextRule,
  timestampDate,
  timestampSeconds,
  typedKind,
} from '../../src/amqp/headers.js';
import { deadLetterCopy, forwardedHeaders, retryCopy } from '../../src/delivery/copies.js';
import { toDelivery } from '../../src/delivery/delivery.js';
import { compileFilter } from '../../src/delivery/filter.js';
import { describeDeadLetter } from '../../src/dlq/view.js';
import { toPluginMessage } from '../../src/plugins/message.js';
import { appendCloudEventHeaders, canonicalText } from '../../src/targets/webhook-cloudevents.js';
import { envelopeBody } from '../../src/targets/webhook-envelope.js';

const require = createRequire(import.meta.url);
const codec = require('amqplib/lib/codec.js') as {
  decodeFields(slice: Buffer): Record<string, unknown>;
};

/** The rules Warren's callers use: the webhook envelope, a DLQ peek, a plugin's message. */
const rules: Record<string, JsonRule> = {
  envelope: { bytes: 'base64', timestamps: 'seconds', decimals: 'number' },
  peek: { bytes: 'base64', timestamps: 'iso', decimals: 'typed' },
  plugin: { bytes: 'text', timestamps: 'typed', decimals: 'typed' },
};
const textRules: TextRule[] = ['strings', 'numbers', 'scalars'];

// Field values on the wire (tag and payload), for every type amqplib 0.10 decodes.
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const tagged = (tag: string, payload: Buffer) => Buffer.concat([Buffer.from(tag, 'latin1'), payload]);
const written = (size: number, write: (b: Buffer) => void) => {
  const b = Buffer.alloc(size);
  write(b);
  return b;
};
const longstr = (bytes: Buffer) => Buffer.concat([u32(bytes.length), bytes]);
const table = (fields: Array<[Buffer, Buffer]>) => {
  const body = Buffer.concat(
    fields.map(([key, value]) => Buffer.concat([Buffer.from([key.length]), key, value])),
  );
  return Buffer.concat([u32(body.length), body]);
};
const text = (s: string) => tagged('S', longstr(Buffer.from(s)));

/** A table as amqplib hands it over: the wire form decoded by amqplib's own decoder. */
const decode = (fields: Array<[Buffer, Buffer]>) => codec.decodeFields(table(fields).subarray(4));
const decodeOne = (value: Buffer) => decode([[Buffer.from('k'), value]]).k;

describe('reading a header as text, a number or an integer', () => {
  it('reads strings and byte arrays as text, numbers and booleans only when the rule says so', () => {
    const values: unknown[] = ['a', Buffer.from('é'), 7, true, 10n, null, [1], { a: 1 }];
    expect(values.map((v) => headerText(v))).toEqual(['a', 'é', ...Array(6).fill(undefined)]);
    expect(values.map((v) => headerText(v, 'numbers'))).toEqual(['a', 'é', '7', ...Array(5).fill(undefined)]);
    expect(values.map((v) => headerText(v, 'scalars'))).toEqual([
      'a',
      'é',
      '7',
      'true',
      '10',
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('never takes a table whose prototype is a byte array (a key `__proto__`) for bytes', () => {
    const fake = decodeOne(
      tagged('F', table([[Buffer.from('__proto__'), tagged('x', longstr(Buffer.from('ab')))]])),
    );
    expect(Buffer.isBuffer(fake)).toBe(true);
    expect(isBytes(fake)).toBe(false);
    for (const rule of textRules) expect(headerText(fake, rule)).toBeUndefined();
    for (const rule of Object.values(rules)) expect(headerJson(fake, rule)).toEqual({});
  });

  it('takes a header table by its own keys, leaving out a key `__proto__` amqplib made its prototype', () => {
    const headers = decode([
      [Buffer.from('__proto__'), tagged('x', longstr(Buffer.from('ab')))],
      [Buffer.from('tenant'), text('acme')],
    ]);
    const own = ownHeaders(headers);
    expect(Object.getPrototypeOf(own)).toBe(Object.prototype);
    expect({ ...own }).toEqual({ tenant: 'acme' });
    const usual = { tenant: 'acme' };
    expect(ownHeaders(usual)).toBe(usual);
  });

  it('reads numbers from numbers, strings and bytes as Number does, and nothing else', () => {
    expect(
      [3, '3', ' 4 ', Buffer.from('5'), '1e2', '', 'x', Number.NaN, Infinity, true].map(headerNumber),
    ).toEqual([3, 3, 4, 5, 100, 0, undefined, undefined, undefined, undefined]);
    expect([2, '2.5', -1, '0x10'].map(headerInteger)).toEqual([2, undefined, -1, 16]);
  });

  it('knows the broker’s dead-letter bookkeeping by name', () => {
    const names = [
      'x-death',
      'x-delivery-count',
      'x-first-death-queue',
      'x-last-death-reason',
      'x-deaths',
      'tenant',
    ];
    expect(names.filter(isBrokerBookkeeping)).toEqual(names.slice(0, 4));
  });
});

describe('the typed values amqplib decodes', () => {
  const timestamp = decodeOne(
    tagged(
      'T',
      written(8, (b) => b.writeBigUInt64BE(1_700_000_000n)),
    ),
  );
  const decimal = decodeOne(tagged('D', Buffer.concat([Buffer.from([2]), u32(1250)])));

  it('reads a timestamp and a decimal by their exact shape, and a look-alike table as a table', () => {
    expect([typedKind(timestamp), typedKind(decimal)]).toEqual(['timestamp', 'decimal']);
    expect(timestampSeconds(timestamp)).toBe(1_700_000_000);
    expect(typedKind({ '!': 'timestamp', value: 1, more: 2 })).toBeUndefined();
    expect(typedKind({ '!': 'timestamp', value: '1' })).toBeUndefined();
    expect(typedKind({ '!': 'decimal' })).toBeUndefined();
    expect(typedKind({ '!': 'decimal', value: { places: 'a', digits: 1 } })).toBeUndefined();
    expect(typedKind(Object.create({ '!': 'timestamp', value: 1 }))).toBeUndefined();
  });

  it('writes timestamps and decimals as each caller’s rule says', () => {
    expect(headerJson({ t: timestamp, d: decimal }, rules.envelope!)).toEqual({ t: 1_700_000_000, d: 12.5 });
    expect(headerJson({ t: timestamp, d: decimal }, rules.peek!)).toEqual({
      t: '2023-11-14T22:13:20.000Z',
      d: { '!': 'decimal', value: { places: 2, digits: 1250 } },
    });
    expect(headerJson([timestamp], rules.plugin!)).toEqual([{ '!': 'timestamp', value: 1_700_000_000 }]);
  });

  it('writes a timestamp no Date can hold as its seconds, and as no CloudEvents time', () => {
    const far = { '!': 'timestamp', value: 2 ** 63 };
    expect(headerJson(far, rules.peek!)).toBe(2 ** 63);
    expect(timestampDate(2 ** 63)).toBeUndefined();
    expect(canonicalText(far)).toBe('');
    expect(canonicalText(timestamp)).toBe('2023-11-14T22:13:20Z');
  });
});

describe('header values as JSON', () => {
  it('writes bytes as base64 or text, and what JSON cannot hold as JSON.stringify would', () => {
    const value = {
      raw: Buffer.from('hi'),
      n: Number.NaN,
      z: -0,
      big: 2n ** 70n,
      when: new Date(Number.NaN),
      u: undefined,
    };
    expect(headerJson(value, rules.envelope!)).toEqual({
      raw: 'aGk=',
      n: null,
      z: 0,
      big: '1180591620717411303424',
      when: null,
    });
    expect(headerJson([Buffer.from('hi'), undefined], rules.plugin!)).toEqual(['hi', null]);
  });

  it('keeps a key `__proto__` as a key', () => {
    const value = JSON.parse('{"__proto__":{"a":1}}') as object;
    expect(Object.keys(headerJson(value, rules.envelope!) as object)).toEqual(['__proto__']);
  });

  it(`writes tables nested deeper than ${maxJsonDepth} levels as null (amqplib decodes thousands)`, () => {
    let deepest = tagged('V', Buffer.alloc(0));
    let depth = 0;
    for (;;) {
      const next = tagged('A', longstr(deepest));
      try {
        decodeOne(next);
      } catch {
        break;
      }
      deepest = next;
      depth++;
    }
    expect(depth).toBeGreaterThan(maxJsonDepth);
    const value = decodeOne(deepest);
    for (const rule of Object.values(rules)) {
      const json = headerJson(value, rule);
      expect(JSON.stringify(json)).toMatch(/^\[+null\]+$/);
    }
    expect(canonicalText(value)).toBe('');
  });
});

// Any table a publisher can send, every type tag, keys that reach amqplib's and Warren's corners.
const key = fc
  .oneof(
    fc.constantFrom(
      '__proto__',
      '!',
      'value',
      'places',
      'digits',
      'type',
      'data',
      'toJSON',
      'queue',
      'reason',
      'routing-keys',
      'x-death',
      'x-first-death-queue',
      'x-first-death-reason',
      'x-warren-attempt',
      'x-warren-original-exchange',
      'x-warren-status',
      'traceparent',
      'tracestate',
      'cloudEvents_time',
      'cloudEvents_type',
    ),
    fc.string({ maxLength: 6 }),
  )
  .map((k) => Buffer.from(k));
const rawKey = fc.oneof(
  key,
  fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
);
const word = fc.constantFrom('timestamp', 'decimal', 'Buffer', '3', '', 'orders');

const scalar: fc.Arbitrary<Buffer> = fc.oneof(
  fc.integer({ min: -128, max: 127 }).map((n) =>
    tagged(
      'b',
      written(1, (b) => b.writeInt8(n)),
    ),
  ),
  fc.integer({ min: 0, max: 255 }).map((n) => tagged('B', Buffer.from([n]))),
  fc.integer({ min: -32768, max: 32767 }).map((n) =>
    tagged(
      's',
      written(2, (b) => b.writeInt16BE(n)),
    ),
  ),
  fc.integer({ min: 0, max: 65535 }).map((n) =>
    tagged(
      'u',
      written(2, (b) => b.writeUInt16BE(n)),
    ),
  ),
  fc.integer().map((n) =>
    tagged(
      'I',
      written(4, (b) => b.writeInt32BE(n)),
    ),
  ),
  fc.nat({ max: 0xffffffff }).map((n) => tagged('i', u32(n))),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) =>
    tagged(
      'l',
      written(8, (b) => b.writeBigInt64BE(n)),
    ),
  ),
  fc.float().map((n) =>
    tagged(
      'f',
      written(4, (b) => b.writeFloatBE(n)),
    ),
  ),
  fc.double().map((n) =>
    tagged(
      'd',
      written(8, (b) => b.writeDoubleBE(n)),
    ),
  ),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.nat({ max: 0xffffffff }))
    .map(([places, digits]) => tagged('D', Buffer.concat([Buffer.from([places]), u32(digits)]))),
  fc
    .oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 4_000_000_000n }))
    .map((n) =>
      tagged(
        'T',
        written(8, (b) => b.writeBigUInt64BE(n)),
      ),
    ),
  fc.oneof(fc.string({ maxLength: 12 }), word).map(text),
  fc.uint8Array({ maxLength: 12 }).map((b) => tagged('S', longstr(Buffer.from(b)))),
  fc.uint8Array({ maxLength: 12 }).map((b) => tagged('x', longstr(Buffer.from(b)))),
  fc.integer({ min: 0, max: 255 }).map((n) => tagged('t', Buffer.from([n]))),
  fc.constant(tagged('V', Buffer.alloc(0))),
);

const fieldValue: fc.Arbitrary<Buffer> = fc.letrec<{ v: Buffer }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }).map((items) => tagged('A', longstr(Buffer.concat(items)))),
    fc.array(fc.tuple(rawKey, tie('v')), { maxLength: 4 }).map((fields) => tagged('F', table(fields))),
    // Tables shaped like amqplib's typed values, almost or exactly.
    fc
      .tuple(word, tie('v'), fc.option(tie('v'), { nil: undefined }))
      .map(([kind, value, extra]) =>
        tagged(
          'F',
          table([
            [Buffer.from('!'), text(kind)],
            [Buffer.from('value'), value],
            ...(extra ? [[Buffer.from('extra'), extra] as [Buffer, Buffer]] : []),
          ]),
        ),
      ),
  ),
})).v;

const headerTable = fc.array(fc.tuple(key, fieldValue), { maxLength: 6 });

/**
 * Every value in a decoded table, nested ones included: each table's own values, and the value of
 * a key `__proto__`, which amqplib made the table's prototype.
 */
function* everyValue(value: unknown, depth = 0): Generator<unknown> {
  yield value;
  if (typeof value !== 'object' || value === null || isBytes(value) || depth > 8) return;
  for (const name of Object.keys(value))
    yield* everyValue((value as Record<string, unknown>)[name], depth + 1);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null)
    yield* everyValue(proto, depth + 1);
}

const jsonRoundTrip = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('any header table amqplib decodes (fixed seed)', () => {
  it('is read without a throw, and its JSON is what JSON.parse(JSON.stringify()) gives back', () => {
    fc.assert(
      fc.property(headerTable, (fields) => {
        const headers = decode(fields);
        for (const value of everyValue(headers)) {
          for (const rule of textRules) {
            const t = headerText(value, rule);
            expect(t === undefined || typeof t === 'string').toBe(true);
          }
          headerNumber(value);
          headerInteger(value);
          typedKind(value);
          expect(typeof canonicalText(value)).toBe('string');
          const seconds = timestampSeconds(value);
          if (seconds !== undefined) timestampDate(seconds);
          for (const rule of Object.values(rules)) {
            const json = headerJson(value, rule);
            expect(jsonRoundTrip(json)).toEqual(json);
          }
        }
      }),
      { seed: 42, numRuns: 1_000 },
    );
  });

  it('passes through every reader of headers in Warren without a throw', () => {
    const filter = compileFilter({
      headers: { 'x-warren-status': { oneOf: ['3', true] }, traceparent: { exists: true } },
    });
    fc.assert(
      fc.property(headerTable, (fields) => {
        const headers = decode(fields);
        const msg = {
          content: Buffer.from('{"a":1}'),
          fields: {
            deliveryTag: 1,
            redelivered: false,
            exchange: 'orders',
            routingKey: 'o.c',
            consumerTag: 'c',
          },
          properties: { headers, contentType: 'application/json' },
        } as unknown as ConsumeMessage;
        const d = toDelivery(msg, 'r');
        expect(d.attempt).toBeGreaterThanOrEqual(1);
        JSON.parse(envelopeBody(d, 'id').toString());
        JSON.stringify(describeDeadLetter(msg, 1));
        toPluginMessage(d);
        filter(d);
        appendCloudEventHeaders(d, 'id', [], []);
        forwardedHeaders(d);
        retryCopy(msg, d);
        deadLetterCopy(msg, d, { reason: 'r' });
        encodingProblem('', 'q', { headers: retypeHeaders(d.headers) }, 131_072);
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
