import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebhookTargetSpec } from '../../src/config/types.js';
import { ByteBudget } from '../../src/delivery/byte-budget.js';
import { admitted, held, RouteGates } from '../../src/delivery/gates.js';
import { registry } from '../../src/telemetry/metrics.js';

const silent = pino({ level: 'silent' });
const MB = 1_000_000;

describe('byte budget', () => {
  it('lets deliveries start while their bytes fit, and holds the one that does not', () => {
    const budget = new ByteBudget(20 * MB);
    expect(budget.fits(8 * MB)).toBe(true);
    budget.take(8 * MB);
    expect(budget.fits(8 * MB)).toBe(true);
    budget.take(8 * MB);
    expect(budget.fits(8 * MB)).toBe(false);
    expect(budget.fits(4 * MB)).toBe(true); // exactly the limit fits
    budget.release(8 * MB);
    expect(budget.fits(8 * MB)).toBe(true);
    expect([budget.inFlight, budget.deliveries]).toEqual([8 * MB, 1]);
  });

  it('starts a message larger than the whole budget only when nothing else is in flight', () => {
    const budget = new ByteBudget(20 * MB);
    budget.take(1);
    expect(budget.fits(30 * MB)).toBe(false);
    budget.release(1);
    expect(budget.fits(30 * MB)).toBe(true);
    budget.take(30 * MB);
    expect(budget.fits(0)).toBe(false); // it runs alone
    budget.release(30 * MB);
    expect([budget.inFlight, budget.deliveries]).toEqual([0, 0]);
  });

  it('keeps what is in flight across a new limit', () => {
    const budget = new ByteBudget(20 * MB);
    budget.take(16 * MB);
    budget.update(10 * MB);
    expect(budget.fits(1)).toBe(false);
    budget.release(16 * MB);
    expect(budget.fits(10 * MB)).toBe(true);
  });

  it('never holds more than the limit, or one delivery alone, whatever the sizes and order (property)', () => {
    const step = fc.oneof(
      fc.record({ start: fc.integer({ min: 0, max: 50 * MB }) }),
      fc.record({ settle: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 * MB }),
        fc.array(step, { maxLength: 200 }),
        (limit, steps) => {
          const budget = new ByteBudget(limit);
          const running: number[] = [];
          const waiting: number[] = [];
          for (const s of steps) {
            if ('start' in s) waiting.push(s.start);
            else if (running.length > 0) budget.release(running.splice(s.settle % running.length, 1)[0]!);
            // The consumer starts the oldest waiting delivery while it fits.
            while (waiting.length > 0 && budget.fits(waiting[0]!)) {
              budget.take(waiting[0]!);
              running.push(waiting.shift()!);
            }
            const sum = running.reduce((a, b) => a + b, 0);
            expect(budget.inFlight).toBe(sum);
            expect(running.length === 1 || sum <= limit).toBe(true);
            // Nothing waits while nothing runs: an oversized message is never stuck.
            expect(waiting.length === 0 || running.length > 0).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe('route gates with a byte budget', () => {
  let now = 0;
  const clock = () => now;
  const target: WebhookTargetSpec = {
    kind: 'webhook',
    url: 'http://127.0.0.1:1/hook',
    method: 'POST',
    headers: {},
    timeoutMs: 1_000,
    body: 'envelope',
    retryOn: [],
    deadLetterOn: [],
  };
  const tick = () => new Promise<void>((resolve) => queueMicrotask(resolve));

  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds a delivery that does not fit and wakes the consumer when bytes settle', async () => {
    const gates = new RouteGates('budget-wake', silent, clock);
    gates.configure({ maxInFlightBytes: 20 * MB, target });
    const wake = vi.fn();
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(gates.admit(wake, 8 * MB)).toBe(held);
    expect(gates.describe().byteBudget).toEqual({ maxInFlightBytes: 20 * MB, bytes: 16 * MB, deliveries: 2 });
    gates.settled(8 * MB, admitted);
    expect(wake).not.toHaveBeenCalled(); // never from inside the caller
    await tick();
    expect(wake).toHaveBeenCalledTimes(1);
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(vi.getTimerCount()).toBe(0); // nothing polls
    gates.dispose();
  });

  it('admits a message bigger than the budget once the route is idle, and nothing beside it', async () => {
    const gates = new RouteGates('budget-oversized', silent, clock);
    gates.configure({ maxInFlightBytes: 20 * MB, target });
    const wake = vi.fn();
    expect(gates.admit(wake, 1)).toBe(admitted);
    expect(gates.admit(wake, 30 * MB)).toBe(held);
    gates.settled(1, admitted);
    await tick();
    expect(gates.admit(wake, 30 * MB)).toBe(admitted);
    expect(gates.admit(wake, 1)).toBe(held);
    gates.settled(30 * MB, admitted);
    expect(gates.describe().byteBudget).toEqual({ maxInFlightBytes: 20 * MB, bytes: 0, deliveries: 0 });
    gates.dispose();
  });

  it('checks the budget before the bucket: a held delivery takes no token', () => {
    const gates = new RouteGates('budget-bucket', silent, clock);
    gates.configure({ maxInFlightBytes: 10 * MB, rateLimit: { rate: 2, perMs: 60_000, burst: 2 }, target });
    const wake = vi.fn();
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(gates.admit(wake, 8 * MB)).toBe(held);
    expect(gates.describe().rateLimit?.tokens).toBe(1);
    gates.dispose();
  });

  it('counts bytes taken under an old version, and applies a reloaded limit to held deliveries at once', async () => {
    const gates = new RouteGates('budget-reload', silent, clock);
    gates.configure({ maxInFlightBytes: 10 * MB, target });
    const wake = vi.fn();
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(gates.admit(wake, 8 * MB)).toBe(held);
    gates.configure({ maxInFlightBytes: 32 * MB, target });
    await tick();
    expect(wake).toHaveBeenCalledTimes(1);
    expect(gates.admit(wake, 8 * MB)).toBe(admitted);
    expect(gates.describe().byteBudget.bytes).toBe(16 * MB);
    gates.settled(8 * MB, admitted);
    gates.settled(8 * MB, admitted);
    expect(gates.describe().byteBudget.bytes).toBe(0);
    gates.dispose();
  });

  it('exports the bytes in flight and the time held by the budget', async () => {
    const gates = new RouteGates('budget-metrics', silent, () => performance.now());
    gates.configure({ maxInFlightBytes: 10 * MB, target });
    const wake = vi.fn();
    gates.admit(wake, 6 * MB);
    gates.admit(wake, 6 * MB); // held from now
    vi.advanceTimersByTime(1_500);
    const metrics = await registry.metrics();
    expect(metrics).toContain('warren_in_flight_bytes{route="budget-metrics"} 6000000');
    const seconds = Number(
      /warren_byte_budget_held_seconds_total\{route="budget-metrics"\} (\S+)/.exec(metrics)?.[1],
    );
    expect(seconds).toBeGreaterThanOrEqual(1.5);
    gates.release(wake); // the consumer stopped: the hold ends
    gates.settled(6 * MB, admitted);
    expect(await registry.metrics()).toContain('warren_in_flight_bytes{route="budget-metrics"} 0');
    gates.dispose();
  });
});
