import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/amqp/session.js';

describe('reconnect backoff', () => {
  const options = { initialMs: 500, maxMs: 30_000 };

  it('doubles the ceiling with each failure', () => {
    expect(backoffDelay(0, options, () => 1)).toBe(500);
    expect(backoffDelay(1, options, () => 1)).toBe(1000);
    expect(backoffDelay(3, options, () => 1)).toBe(4000);
  });

  it('caps the ceiling', () => {
    expect(backoffDelay(20, options, () => 1)).toBe(30_000);
  });

  it('jitters below the ceiling but never below 50 ms', () => {
    expect(backoffDelay(4, options, () => 0.5)).toBe(4000);
    expect(backoffDelay(4, options, () => 0)).toBe(50);
  });
});
