import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeDropped,
  encodableHeaders,
  encodingProblem,
  headersLimit,
  retypeHeaders,
} from '../../src/amqp/encode.js';
import { encodeTable, type RawTable, type RawValue } from '../helpers/raw-amqp.js';
import { decodedValue, hostileForms } from './forms.js';

const require = createRequire(import.meta.url);
const codec = require('amqplib/lib/codec.js') as {
  decodeFields(slice: Buffer): Record<string, unknown>;
  encodeTable(buffer: Buffer, table: unknown, offset: number): number;
};

/** The headers as Warren sees them: the wire table decoded by amqplib. */
const decode = (table: RawTable): Record<string, unknown> =>
  codec.decodeFields(encodeTable(table).subarray(4));

/** What a receiver decodes from what amqplib encodes of `headers` (a big scratch: no 64 KiB cut). */
function roundTrip(headers: Record<string, unknown>): Record<string, unknown> {
  const buffer = Buffer.alloc(1 << 20);
  const size = codec.encodeTable(buffer, headers, 0);
  return codec.decodeFields(buffer.subarray(4, size));
}

const frameMax = 131_072;

describe('the encoding check (src/amqp/encode.ts)', () => {
  for (const form of hostileForms) {
    it(`finds ${form.name} unencodable as amqplib decoded it`, () => {
      const headers = decode(form.headers);
      expect(encodingProblem('', 'q', { headers }, frameMax)).toMatch(/headers cannot be re-encoded/);
    });

    if (form.lossless) {
      it(`sends ${form.name} exactly once retyped`, () => {
        const headers = retypeHeaders(decode(form.headers));
        expect(encodingProblem('', 'q', { headers }, frameMax)).toBeUndefined();
        expect(roundTrip(headers)).toEqual({ 'x-keep': 'yes', [form.header]: decodedValue[form.header] });
      });
    } else {
      it(`names ${form.name} and leaves it out of encodable headers`, () => {
        const headers = retypeHeaders(decode(form.headers));
        const problem = encodingProblem('', 'q', { headers }, frameMax);
        expect(problem).toContain(form.header.slice(0, 10));
        const fixed = encodableHeaders(headers, () => false);
        expect(fixed.dropped.map((d) => d.name)).toEqual([form.header]);
        expect(fixed.headers).toEqual({ 'x-keep': 'yes' });
        expect(encodingProblem('', 'q', { headers: fixed.headers }, frameMax)).toBeUndefined();
      });
    }
  }

  it('catches a last header that amqplib would cut silently (no throw, a corrupt frame)', () => {
    const headers = { big: 'x'.repeat(headersLimit) };
    expect(encodingProblem('', 'q', { headers }, frameMax)).toMatch(/big: \d+ bytes/);
  });

  it('finds a header table too large for a small frame size', () => {
    const headers = { a: 'x'.repeat(5_000) };
    expect(encodingProblem('', 'q', { headers }, 4_096)).toMatch(/frame size \(4096\)/);
    expect(encodingProblem('', 'q', { headers }, frameMax)).toBeUndefined();
  });

  it('finds a routing key or a message-id that grew past 255 bytes', () => {
    const grown = '\uFFFD'.repeat(100);
    expect(encodingProblem('', grown, {}, frameMax)).toBe('routing key is 300 bytes once decoded, over 255');
    expect(encodingProblem('', 'q', { messageId: grown }, frameMax)).toMatch(/messageId is 300 bytes/);
  });

  it('keeps Warren’s annotations when it cuts headers to size, dropping the largest first', () => {
    const headers = { 'x-warren-error': 'e'.repeat(40_000), small: 's', large: 'l'.repeat(30_000) };
    const fixed = encodableHeaders(headers, (name) => name.startsWith('x-warren-'));
    expect(Object.keys(fixed.headers).sort()).toEqual(['small', 'x-warren-error']);
    expect(describeDropped(fixed.dropped)).toMatch(/^large: 30011 bytes; all headers were \d+ bytes/);
  });

  it('leaves ordinary headers (and the typed values amqplib decodes) untouched, the same object', () => {
    const headers = decode([
      ['a', { t: 'S', v: 'x' }],
      ['n', { t: 'd', v: 1.5 }],
      ['l', { t: 'l', v: -(2n ** 62n) }],
      ['x', { t: 'x', v: Buffer.from([1, 2]) }],
      ['f', { t: 'F', v: [['k', { t: 'A', v: [{ t: 'I', v: 3 }, { t: 'V' }] }]] }],
    ]);
    expect(retypeHeaders(headers)).toBe(headers);
  });

  // Any table a publisher can send: amqplib decodes it, Warren retypes it, amqplib encodes it, and
  // a receiver decodes the same values — or the check says it cannot be sent.
  const key = fc.oneof(
    fc.constantFrom('!', 'value', 'a', 'x-warren-attempt'),
    fc.string({ maxLength: 8 }).filter((s) => Buffer.byteLength(s) <= 255),
  );
  const value: fc.Arbitrary<RawValue> = fc.letrec<{ v: RawValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: 8 }).map((v): RawValue => ({ t: 'S', v })),
      fc.double().map((v): RawValue => ({ t: 'd', v })),
      fc
        .constantFrom(-1e300, -(2 ** 72), Number.NaN, -Infinity, 2 ** 64)
        .map((v): RawValue => ({ t: 'd', v })),
      fc.integer().map((v): RawValue => ({ t: 'I', v })),
      fc.boolean().map((v): RawValue => ({ t: 't', v })),
      fc.constant<RawValue>({ t: 'V' }),
      fc.array(tie('v'), { maxLength: 3 }).map((v): RawValue => ({ t: 'A', v })),
      fc
        .uniqueArray(fc.tuple(key, tie('v')), { maxLength: 4, selector: ([k]) => k })
        .map((v): RawValue => ({ t: 'F', v: v as RawTable })),
    ),
  })).v;
  const table = fc.uniqueArray(fc.tuple(key, value), { maxLength: 6, selector: ([k]) => k });

  it('sends every generated table back exactly as amqplib decoded it (fixed seed)', () => {
    fc.assert(
      fc.property(table, (raw) => {
        const decoded = decode(raw as RawTable);
        const headers = retypeHeaders(decoded);
        expect(encodingProblem('', 'q', { headers }, frameMax)).toBeUndefined();
        expect(roundTrip(headers)).toEqual(decoded);
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
