import { describe, expect, it } from 'vitest';
import { parseLimit } from '../../src/dlq/limit.js';

describe('a dlq limit', () => {
  it('defaults when absent and accepts whole numbers within the range', () => {
    expect(parseLimit(undefined, 20, 1000)).toBe(20);
    expect(parseLimit('', undefined)).toBeUndefined();
    expect(parseLimit('1000', 20, 1000)).toBe(1000);
    expect(parseLimit('7', undefined)).toBe(7);
  });

  it('refuses zero, fractions, words and values above the maximum, saying what is allowed', () => {
    for (const bad of ['0', '-1', '2.5', 'ten', '1e3', '1001'])
      expect(() => parseLimit(bad, 20, 1000), bad).toThrow(/limit must be a whole number from 1 to 1000/);
    expect(() => parseLimit('0', undefined)).toThrow(/at least 1/);
  });
});
