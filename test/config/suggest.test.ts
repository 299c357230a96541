import { describe, expect, it } from 'vitest';
import { suggest } from '../../src/config/suggest.js';

const routeKeys = ['from', 'prefetch', 'concurrency', 'deliveryLimit', 'to', 'retry', 'deadLetter'];

describe('suggest', () => {
  it.each([
    ['bakoff', ['attempts', 'backoff'], 'backoff'],
    ['retyr', routeKeys, 'retry'],
    ['prefech', routeKeys, 'prefetch'],
    ['deadletter', routeKeys, 'deadLetter'],
    ['concurency', routeKeys, 'concurrency'],
    ['Backoff', ['attempts', 'backoff'], 'backoff'],
  ])('suggests the nearest key for %j', (word, candidates, expected) => {
    expect(suggest(word, candidates)).toBe(expected);
  });

  it('counts a swapped pair of letters as one edit', () => {
    // Both candidates are two plain (Levenshtein) edits from `retyr`; only the swap makes `retry` nearer.
    expect(suggest('retyr', ['rxtyx', 'retry'])).toBe('retry');
  });

  it.each([
    ['colour', routeKeys],
    ['webhooks_url', ['url', 'method', 'headers', 'timeout']],
    ['anything', []],
  ])('suggests nothing when %j is not close to any key', (word, candidates) => {
    expect(suggest(word, candidates)).toBeUndefined();
  });
});
