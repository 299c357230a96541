import { describe, expect, it } from 'vitest';
import { newTraceparent, traceIdOf, validTraceparent } from '../../src/telemetry/trace.js';

describe('trace context', () => {
  it('accepts a valid traceparent, from a string or an AMQP byte header', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(validTraceparent(tp)).toBe(tp);
    expect(validTraceparent(Buffer.from(tp))).toBe(tp);
  });

  it('rejects malformed and all-zero ids', () => {
    expect(validTraceparent('00-xyz-abc-01')).toBeUndefined();
    expect(validTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(validTraceparent(42)).toBeUndefined();
  });

  it('reads a later version as version 00, and refuses ff, uppercase and anything after version 00', () => {
    const ids = '0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331';
    expect(validTraceparent(`01-${ids}-01`)).toBe(`00-${ids}-01`);
    expect(validTraceparent(`cc-${ids}-09-what-comes-next`)).toBe(`00-${ids}-09`);
    expect(validTraceparent(`01-${ids}-01x`)).toBeUndefined(); // a field must start with a dash
    expect(validTraceparent(`ff-${ids}-01`)).toBeUndefined();
    expect(validTraceparent(`00-${ids}-01-more`)).toBeUndefined();
    expect(validTraceparent(`00-${ids.toUpperCase()}-01`)).toBeUndefined();
    expect(validTraceparent(`00-${ids}-00`)).toBe(`00-${ids}-00`); // not sampled: still the parent
    expect(validTraceparent(`00-${'a'.repeat(65_536)}`)).toBeUndefined();
    expect(validTraceparent([`00-${ids}-01`])).toBeUndefined();
  });

  it('starts new valid traceparents with distinct trace ids', () => {
    const a = newTraceparent();
    const b = newTraceparent();
    expect(validTraceparent(a)).toBe(a);
    expect(traceIdOf(a)).not.toBe(traceIdOf(b));
    expect(traceIdOf(a)).toMatch(/^[0-9a-f]{32}$/);
  });
});
