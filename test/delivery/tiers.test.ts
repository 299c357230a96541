import { describe, expect, it } from 'vitest';
import { chooseTier } from '../../src/delivery/dispatch.js';
import type { RoutePlan } from '../../src/topology/plan.js';

const plan = {
  retry: { attempts: 6, backoffMs: [5_000, 30_000, 120_000, 30_000] },
  tiers: [
    { delayMs: 5_000, queue: 'warren.retry.q.5s' },
    { delayMs: 30_000, queue: 'warren.retry.q.30s' },
    { delayMs: 120_000, queue: 'warren.retry.q.2m' },
  ],
} as unknown as RoutePlan;

describe('choosing a delay tier', () => {
  it('follows the backoff schedule by attempt, repeating the last value', () => {
    expect(chooseTier(plan, 1)).toBe('warren.retry.q.5s');
    expect(chooseTier(plan, 2)).toBe('warren.retry.q.30s');
    expect(chooseTier(plan, 3)).toBe('warren.retry.q.2m');
    expect(chooseTier(plan, 4)).toBe('warren.retry.q.30s');
    expect(chooseTier(plan, 9)).toBe('warren.retry.q.30s');
  });

  it('honours Retry-After with the smallest tier at or above it', () => {
    expect(chooseTier(plan, 1, 7_000)).toBe('warren.retry.q.30s');
    expect(chooseTier(plan, 1, 5_000)).toBe('warren.retry.q.5s');
    expect(chooseTier(plan, 1, 0)).toBe('warren.retry.q.5s');
  });

  it('clamps a Retry-After beyond the schedule to the largest tier', () => {
    expect(chooseTier(plan, 1, 3_600_000)).toBe('warren.retry.q.2m');
  });
});
