import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newRing, RingReader, RingWriter } from '../../src/telemetry/otel-ring.js';

describe('the ring that carries spans to the export thread', () => {
  it('gives back what was put, in order, and takes a small record whenever it is empty', () => {
    // Against a model: a queue of records and the bytes they take. Small rings wrap often.
    const step = fc.oneof(
      fc.record({ put: fc.integer({ min: 0, max: 90 }) }),
      fc.record({ take: fc.constant(true) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 300 }), fc.array(step, { maxLength: 200 }), (size, steps) => {
        const memory = newRing(size);
        const writer = new RingWriter(memory);
        const reader = new RingReader(memory);
        const queued: number[][] = [];
        let next = 0;
        for (const s of steps) {
          if ('put' in s) {
            const record = Array.from({ length: s.put }, () => next++ & 0xff);
            const bytes = new Uint8Array(s.put + 5).fill(0xee);
            bytes.set(record);
            const empty = queued.length === 0;
            if (writer.put(bytes, s.put)) queued.push(record);
            // Into an empty ring, a record that takes under half of it always goes in.
            else expect(empty && 2 * (4 + s.put + 4) < size - 1).toBe(false);
          } else {
            const taken: number[][] = [];
            reader.take((b) => taken.push([...b]));
            expect(taken).toEqual(queued);
            queued.length = 0;
          }
        }
        const rest: number[][] = [];
        reader.take((b) => rest.push([...b]));
        expect(rest).toEqual(queued);
      }),
      { seed: 1414, numRuns: 300 },
    );
  });

  it('never fills the ring to the reader, where full would look empty', () => {
    const memory = newRing(64);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    const taken: number[] = [];
    expect(writer.put(new Uint8Array(20), 20)).toBe(true); // 0..24
    reader.take((b) => taken.push(b.length));
    expect(writer.put(new Uint8Array(30), 30)).toBe(true); // 24..58
    expect(writer.put(new Uint8Array(16), 16)).toBe(true); // wraps: 0..20
    expect(writer.put(new Uint8Array(0), 0)).toBe(false); // 20..24 would meet the reader at 24
    reader.take((b) => taken.push(b.length));
    expect(taken).toEqual([20, 30, 16]);
  });

  it('takes an empty ring as nothing, and a record as large as the ring as too large', () => {
    const memory = newRing(64);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    expect(reader.take(() => {})).toBe(0);
    expect(writer.put(new Uint8Array(64), 64)).toBe(false);
    expect(writer.put(new Uint8Array(10), 10)).toBe(true);
    expect(reader.take(() => {})).toBe(1);
  });

  it('gives each record bytes of its own, which the next writes do not change', () => {
    const memory = newRing(64);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    writer.put(Uint8Array.of(1, 2, 3), 3);
    const kept: Uint8Array[] = [];
    reader.take((b) => kept.push(b));
    for (let i = 0; i < 20; i++) {
      writer.put(Uint8Array.of(9, 9, 9, 9, 9, 9, 9), 7);
      reader.take(() => {});
    }
    expect([...kept[0]!]).toEqual([1, 2, 3]);
  });
});
