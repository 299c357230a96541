import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CircuitPolicy, RateLimit, WebhookTargetSpec } from '../../src/config/types.js';
import { CircuitBreaker, type CircuitState } from '../../src/delivery/circuit.js';
import { admitted, held, RouteGates } from '../../src/delivery/gates.js';
import { ack, deadLetter, type Outcome, retry } from '../../src/delivery/outcome.js';
import { TokenBucket } from '../../src/delivery/token-bucket.js';
import type { Delivery } from '../../src/delivery/types.js';

const silent = pino({ level: 'silent' });

describe('token bucket', () => {
  const policy: RateLimit = { rate: 10, perMs: 1_000, burst: 3 };

  it('starts full and gives out `burst` tokens at once', () => {
    const bucket = new TokenBucket(policy, 0);
    expect([1, 2, 3, 4].map(() => bucket.tryTake(0))).toEqual([true, true, true, false]);
  });

  it('refills at `rate` per `per`, never above `burst`', () => {
    const bucket = new TokenBucket(policy, 0);
    for (let i = 0; i < 3; i++) bucket.tryTake(0);
    expect(bucket.msUntilToken(0)).toBe(100);
    expect(bucket.tryTake(99)).toBe(false);
    expect(bucket.msUntilToken(99)).toBe(1);
    expect(bucket.tryTake(100)).toBe(true);
    expect(bucket.tryTake(150)).toBe(false);
    expect(bucket.tokens(10_000)).toBe(3);
  });

  it('delivers `rate` per period over a long run, plus the initial burst', () => {
    const bucket = new TokenBucket(policy, 0);
    let taken = 0;
    for (let t = 0; t <= 10_000; t++) if (bucket.tryTake(t)) taken++;
    expect(taken).toBe(3 + 100);
  });

  it('keeps the tokens earned on a policy change, capped at the new burst', () => {
    const bucket = new TokenBucket(policy, 0);
    bucket.update({ rate: 1, perMs: 1_000, burst: 1 }, 0);
    expect(bucket.tryTake(0)).toBe(true);
    expect(bucket.tryTake(0)).toBe(false);
    expect(bucket.msUntilToken(0)).toBe(1_000);
    bucket.update({ rate: 100, perMs: 1_000, burst: 5 }, 500);
    // Half a token was earned at the old rate; the rest comes at the new one (5 ms).
    expect(bucket.msUntilToken(500)).toBe(5);
  });
});

describe('circuit breaker', () => {
  const policy: CircuitPolicy = {
    failureRate: 0.5,
    minRequests: 4,
    consecutiveFailures: 100, // the rate alone (the streak has its own file, circuit.test.ts)
    windowMs: 10_000,
    cooldownMs: 5_000,
  };

  function breaker() {
    const changes: Array<[CircuitState, CircuitState]> = [];
    const b = new CircuitBreaker(policy, 0, (from, to) => changes.push([from, to]));
    return { b, changes };
  }

  /** Records outcomes (true = failed) at time `now`, each started in the current state. */
  const record = (b: CircuitBreaker, now: number, ...failed: boolean[]) => {
    for (const f of failed) b.record(f, b.epoch, now);
  };

  it('stays closed below `minRequests`, however many of them failed', () => {
    const { b } = breaker();
    record(b, 0, true, true, true);
    expect(b.state).toBe('closed');
    expect(b.permit(0)).toBe('go');
  });

  it('opens once `minRequests` finished in the window and the failed share reaches `failureRate`', () => {
    const { b, changes } = breaker();
    record(b, 0, false, false, true);
    expect(b.state).toBe('closed');
    record(b, 1, true);
    expect(b.state).toBe('open');
    expect(changes).toEqual([['closed', 'open']]);
    expect(b.permit(1)).toBe('wait');
  });

  it('does not open while failures stay below the rate', () => {
    const { b } = breaker();
    for (let i = 0; i < 50; i++) record(b, i, false, false, true);
    expect(b.state).toBe('closed');
  });

  it('forgets requests older than the window', () => {
    const { b } = breaker();
    record(b, 0, true, true, true);
    // 11 s later those three have left the window: one more failure is 1 of 1, below minRequests.
    record(b, 11_000, true);
    expect(b.state).toBe('closed');
    expect(b.window(11_000)).toEqual({ requests: 1, failures: 1 });
  });

  it('counts a dead letter (the receiver answered) as a request that did not fail', () => {
    const { b } = breaker();
    record(b, 0, true, false, false, false, false);
    expect(b.window(0)).toEqual({ requests: 5, failures: 1 });
    expect(b.state).toBe('closed');
  });

  it('lets exactly one probe through after the cooldown; its success closes the circuit', () => {
    const { b, changes } = breaker();
    record(b, 0, true, true, true, true);
    expect(b.permit(4_999)).toBe('wait');
    expect(b.permit(5_000)).toBe('probe');
    expect(b.state).toBe('half-open');
    const epoch = b.probeStarted();
    expect(b.permit(5_001)).toBe('wait');
    b.record(false, epoch, 5_100);
    expect(b.state).toBe('closed');
    expect(b.permit(5_100)).toBe('go');
    expect(b.window(5_100)).toEqual({ requests: 0, failures: 0 });
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('opens again for another cooldown when the probe fails', () => {
    const { b } = breaker();
    record(b, 0, true, true, true, true);
    expect(b.permit(5_000)).toBe('probe');
    const epoch = b.probeStarted();
    b.record(true, epoch, 6_000);
    expect(b.state).toBe('open');
    expect(b.permit(10_999)).toBe('wait');
    expect(b.permit(11_000)).toBe('probe');
  });

  it('ignores outcomes of requests started before it opened', () => {
    const { b } = breaker();
    const before = b.epoch;
    record(b, 0, true, true, true, true);
    expect(b.state).toBe('open');
    // A slow request sent while closed answers during the open period and after the cooldown.
    b.record(false, before, 100);
    expect(b.state).toBe('open');
    expect(b.permit(5_000)).toBe('probe');
    b.probeStarted();
    b.record(false, before, 5_001);
    expect(b.state).toBe('half-open');
  });

  it('hands the probe on when the probe delivery never reached the receiver', () => {
    const { b } = breaker();
    record(b, 0, true, true, true, true);
    expect(b.permit(5_000)).toBe('probe');
    const epoch = b.probeStarted();
    expect(b.permit(5_000)).toBe('wait');
    expect(b.probeEnded(epoch)).toBe(true);
    expect(b.permit(5_000)).toBe('probe');
    // A probe that decided moves the epoch on: ending it changes nothing.
    const second = b.probeStarted();
    b.record(true, second, 5_010);
    expect(b.probeEnded(second)).toBe(false);
    expect(b.state).toBe('open');
  });

  it('keeps its state on a policy update; a new window length starts a fresh window', () => {
    const { b } = breaker();
    record(b, 0, true, true);
    b.update({ ...policy, cooldownMs: 1_000 });
    expect(b.window(0)).toEqual({ requests: 2, failures: 2 });
    b.update({ ...policy, windowMs: 20_000 });
    expect(b.window(0)).toEqual({ requests: 0, failures: 0 });
  });
});

describe('route gates', () => {
  let now = 0;
  const clock = () => now;
  const webhook = (circuit?: CircuitPolicy, url = 'http://127.0.0.1:1/hook'): WebhookTargetSpec => ({
    kind: 'webhook',
    url,
    method: 'POST',
    headers: {},
    timeoutMs: 1_000,
    body: 'raw',
    retryOn: [],
    deadLetterOn: [],
    ...(circuit ? { circuit } : {}),
  });
  const circuit: CircuitPolicy = {
    failureRate: 0.5,
    minRequests: 2,
    consecutiveFailures: 100,
    windowMs: 10_000,
    cooldownMs: 1_000,
  };
  const unlimited = Number.POSITIVE_INFINITY;

  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Advances both the gates' clock and the timers; wake-ups (microtasks) have run after it. */
  const advance = async (ms: number) => {
    now += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };
  /** Lets the wake-ups queued so far run. */
  const settled = () => new Promise<void>((resolve) => queueMicrotask(resolve));

  /** A handler answering with `outcomes` in turn, observed by the gates' circuit. */
  function observed(gates: RouteGates, outcomes: Outcome[]) {
    let n = 0;
    return gates.observe(async () => outcomes[n++] ?? ack());
  }
  const delivery = {} as Delivery;

  it('holds a delivery when the bucket is empty and wakes the consumer once, when the token is due', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({
      rateLimit: { rate: 10, perMs: 1_000, burst: 1 },
      maxInFlightBytes: unlimited,
      target: webhook(),
    });
    const wake = vi.fn();
    expect(gates.admit(wake, 0)).toBe(admitted);
    expect(gates.admit(wake, 0)).toBe(held);
    expect(gates.admit(wake, 0)).toBe(held);
    await advance(99);
    expect(wake).not.toHaveBeenCalled();
    await advance(1);
    expect(wake).toHaveBeenCalledTimes(1);
    expect(gates.admit(wake, 0)).toBe(admitted);
    gates.dispose();
  });

  it('applies a changed rate limit to a held consumer at once, and releases it when the limit goes', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({
      rateLimit: { rate: 1, perMs: 60_000, burst: 1 },
      maxInFlightBytes: unlimited,
      target: webhook(),
    });
    const wake = vi.fn();
    gates.admit(wake, 0);
    expect(gates.admit(wake, 0)).toBe(held);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook() });
    expect(wake).not.toHaveBeenCalled(); // never from inside the caller
    await settled();
    expect(wake).toHaveBeenCalledTimes(1);
    expect(gates.admit(wake, 0)).toBe(admitted);
    expect(vi.getTimerCount()).toBe(0);
    gates.dispose();
  });

  it('opens on receiver failures, turns half-open after the cooldown by its own timer, and closes on a good probe', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    const handler = observed(gates, [retry('HTTP 503'), retry('timeout'), ack()]);
    await handler(delivery);
    await handler(delivery);
    expect(gates.circuitState).toBe('open');
    const wake = vi.fn();
    expect(gates.admit(wake, 0)).toBe(held);
    await advance(1_000);
    expect(gates.circuitState).toBe('half-open');
    expect(wake).toHaveBeenCalledTimes(1);
    const probe = gates.admit(wake, 0);
    expect(probe).toBeGreaterThan(0);
    expect(gates.admit(wake, 0)).toBe(held);
    await handler(delivery);
    gates.settled(0, probe);
    expect(gates.circuitState).toBe('closed');
    await settled();
    expect(wake).toHaveBeenCalledTimes(2);
    expect(gates.admit(wake, 0)).toBe(admitted);
    gates.dispose();
  });

  it('counts a request never sent (a refused CloudEvent) neither way, and passes the probe on', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    const refused = deadLetter('cloudevents: no type attribute');
    const handler = observed(gates, [retry('HTTP 503'), refused, retry('timeout'), refused, ack()]);
    await handler(delivery);
    await handler(delivery); // not a success that would keep the failure share at 1/2
    await handler(delivery);
    expect(gates.circuitState).toBe('open');
    await advance(1_000);
    const wake = vi.fn();
    const probe = gates.admit(wake, 0);
    expect(probe).toBeGreaterThan(0);
    await handler(delivery); // the probe is refused before any request
    gates.settled(0, probe);
    expect(gates.circuitState).toBe('half-open');
    const next = gates.admit(wake, 0);
    expect(next).toBeGreaterThan(0);
    await handler(delivery);
    gates.settled(0, next);
    expect(gates.circuitState).toBe('closed');
    gates.dispose();
  });

  it('never wakes a consumer from inside its own call, when asking is what ends the cooldown', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    const handler = observed(gates, [retry('HTTP 503'), retry('HTTP 503')]);
    await handler(delivery);
    await handler(delivery);
    const wake = vi.fn();
    expect(gates.admit(wake, 0)).toBe(held);
    now += 1_000; // the clock passes the cooldown before its timer runs
    expect(gates.admit(wake, 0)).toBeGreaterThan(0);
    expect(wake).not.toHaveBeenCalled();
    await settled();
    expect(wake).toHaveBeenCalledTimes(1);
    expect(gates.admit(wake, 0)).toBe(held); // the probe is out
    gates.dispose();
  });

  it('does not count a dead letter as a receiver failure', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    const handler = observed(gates, [
      deadLetter('HTTP 404', { status: 404 }),
      deadLetter('HTTP 400', { status: 400 }),
      deadLetter('HTTP 422', { status: 422 }),
    ]);
    for (let i = 0; i < 3; i++) await handler(delivery);
    expect(gates.circuitState).toBe('closed');
    expect(gates.describe().circuit).toMatchObject({ state: 'closed', requests: 3, failures: 0 });
    gates.dispose();
  });

  it('keeps an open circuit across a reload of the same URL, and starts closed for a new URL', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    const handler = observed(gates, [retry('HTTP 503'), retry('HTTP 503')]);
    await handler(delivery);
    await handler(delivery);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook({ ...circuit, cooldownMs: 5_000 }) });
    expect(gates.circuitState).toBe('open');
    await advance(1_000);
    expect(gates.circuitState).toBe('open');
    await advance(4_000);
    expect(gates.circuitState).toBe('half-open');
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit, 'http://127.0.0.1:2/hook') });
    expect(gates.circuitState).toBe('closed');
    gates.dispose();
  });

  it('ignores failures that were in flight when a reload turned the circuit off or changed its URL', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    // Two requests start under the first circuit and fail after the reload.
    let fail!: () => void;
    const failing = new Promise<Outcome>((resolve) => {
      fail = () => resolve(retry('HTTP 503'));
    });
    const handler = gates.observe(() => failing);
    const inFlight = [handler(delivery), handler(delivery)];
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(undefined) }); // circuit: false
    fail();
    await expect(Promise.all(inFlight)).resolves.toHaveLength(2); // no TypeError from a dropped circuit
    expect(gates.circuitState).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);

    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit) });
    let failAgain!: () => void;
    const failingAgain = new Promise<Outcome>((resolve) => {
      failAgain = () => resolve(retry('HTTP 503'));
    });
    const second = gates.observe(() => failingAgain);
    const before = [second(delivery), second(delivery)];
    gates.configure({ maxInFlightBytes: unlimited, target: webhook(circuit, 'http://127.0.0.1:2/hook') });
    failAgain();
    await Promise.all(before);
    expect(gates.circuitState).toBe('closed'); // the new URL's circuit heard nothing
    gates.dispose();
  });

  it('checks the circuit before the bucket: a held delivery takes no token', async () => {
    const gates = new RouteGates('r', silent, clock);
    gates.configure({
      rateLimit: { rate: 1, perMs: 1_000, burst: 1 },
      maxInFlightBytes: unlimited,
      target: webhook(circuit),
    });
    const handler = observed(gates, [retry('HTTP 503'), retry('HTTP 503')]);
    await handler(delivery);
    await handler(delivery);
    const wake = vi.fn();
    expect(gates.admit(wake, 0)).toBe(held);
    expect(gates.describe().rateLimit?.tokens).toBe(1);
    gates.dispose();
  });
});
