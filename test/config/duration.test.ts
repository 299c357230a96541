import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDuration } from '../../src/config/duration.js';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0s', 0],
    [1500, 1500],
    [0, 0],
  ])('reads %j as %i milliseconds', (text, ms) => {
    expect(isDuration(text)).toBe(true);
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['10 seconds', '1.5s', '-1s', '10', '1d', '10S', 's', '', ' 10s'])(
    'refuses the string %j',
    (text) => {
      expect(isDuration(text)).toBe(false);
      expect(() => parseDuration(text)).toThrow(`not a duration: ${text}`);
    },
  );

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, null, true, {}])(
    'refuses the value %j',
    (value) => {
      expect(isDuration(value)).toBe(false);
    },
  );

  it.each([
    [300_000, '5m'],
    [7_200_000, '2h'],
    [90_000, '90s'],
    [1500, '1500ms'],
    [1000, '1s'],
    [0, '0ms'],
  ])('writes %i ms as the shortest exact spelling %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
