import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import type { CircuitPolicy } from '../../src/config/types.js';
import { CircuitBreaker, type CircuitState } from '../../src/delivery/circuit.js';
import { lines, useTempDirs } from '../config/route-dir.js';

/** The default rate trigger, and a streak of 3. */
const policy: CircuitPolicy = {
  failureRate: 0.5,
  minRequests: 20,
  consecutiveFailures: 3,
  windowMs: 30_000,
  cooldownMs: 5_000,
};

function breaker(p: CircuitPolicy = policy) {
  const changes: Array<[CircuitState, CircuitState, string]> = [];
  const b = new CircuitBreaker(p, 0, (from, to, detail) => changes.push([from, to, detail]));
  return { b, changes };
}

/** Records outcomes (true = failed) at time `now`, each started in the current state. */
const record = (b: CircuitBreaker, now: number, ...failed: boolean[]) => {
  for (const f of failed) b.record(f, b.epoch, now);
};

describe('circuit breaker: consecutive failures', () => {
  it('opens after `consecutiveFailures` failures in a row, however many successes the window holds', () => {
    const { b, changes } = breaker();
    for (let i = 0; i < 1_000; i++) record(b, i, false);
    record(b, 1_000, true, true);
    expect(b.state).toBe('closed');
    record(b, 1_001, true);
    expect(b.state).toBe('open');
    expect(changes).toEqual([
      ['closed', 'open', '3 requests in a row failed; holding deliveries for 5000ms'],
    ]);
  });

  it('starts the count again after a success', () => {
    const { b } = breaker({ ...policy, failureRate: 0.9 }); // 2 of 3 failing stays below the rate
    for (let i = 0; i < 100; i++) record(b, i, false, true, true);
    expect(b.state).toBe('closed');
    expect(b.window(100)).toEqual({ requests: 300, failures: 200 });
  });

  it('opens on the failure rate still, when failures alternate with successes', () => {
    const { b } = breaker();
    for (let i = 0; i < 9; i++) record(b, i, false, true);
    record(b, 9, false);
    expect(b.state).toBe('closed');
    record(b, 9, true); // 10 of 20
    expect(b.state).toBe('open');
  });

  it('does not count failures of requests started before a transition', () => {
    const { b } = breaker();
    const before = b.epoch;
    record(b, 0, true, true, true);
    expect(b.state).toBe('open');
    expect(b.permit(5_000)).toBe('probe');
    const probe = b.probeStarted();
    b.record(false, probe, 5_001);
    expect(b.state).toBe('closed');
    // Late failures of requests sent before the circuit opened: neither counted nor a streak.
    b.record(true, before, 5_002);
    b.record(true, before, 5_003);
    b.record(true, before, 5_004);
    expect(b.state).toBe('closed');
    expect(b.window(5_004)).toEqual({ requests: 0, failures: 0 });
    // And a fresh streak needs all of its own failures after the close.
    record(b, 5_005, true, true);
    expect(b.state).toBe('closed');
    record(b, 5_006, true);
    expect(b.state).toBe('open');
  });

  it('a closed circuit after a successful probe does not inherit the streak that opened it', () => {
    const { b } = breaker();
    record(b, 0, true, true, true);
    expect(b.permit(5_000)).toBe('probe');
    b.record(false, b.probeStarted(), 5_000);
    expect(b.state).toBe('closed');
    record(b, 5_001, true, true);
    expect(b.state).toBe('closed');
  });

  it('one failed probe reopens the circuit, whatever the streak setting', () => {
    const { b } = breaker({ ...policy, consecutiveFailures: 50 });
    for (let i = 0; i < 20; i++) record(b, 0, true);
    expect(b.state).toBe('open'); // the rate: 20 of 20
    expect(b.permit(5_000)).toBe('probe');
    b.record(true, b.probeStarted(), 5_000);
    expect(b.state).toBe('open');
  });

  it('takes a lowered `consecutiveFailures` from a policy update, keeping the streak so far', () => {
    const { b } = breaker({ ...policy, consecutiveFailures: 10 });
    record(b, 0, true, true);
    b.update({ ...policy, consecutiveFailures: 3 });
    expect(b.state).toBe('closed');
    record(b, 1, true);
    expect(b.state).toBe('open');
  });
});

describe('to.webhook.circuit.consecutiveFailures', () => {
  const tmp = useTempDirs();
  const route = (circuit: string) =>
    lines(
      'routes:',
      '  billing:',
      '    from: { queue: billing.q }',
      `    to: { webhook: { url: "http://x.internal/", circuit: ${circuit} } }`,
    );

  async function load(text: string) {
    const dir = await tmp.routes({ 'r.yaml': text });
    return { file: join(dir, 'r.yaml'), result: await loadConfig(dir, {}) };
  }

  it('is 10 by default and taken as written', async () => {
    const { result } = await load(route('{ failureRate: 0.4, consecutiveFailures: 3 }'));
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(result.config.routes[0]!.target).toHaveProperty('circuit', {
      failureRate: 0.4,
      minRequests: 20,
      consecutiveFailures: 3,
      windowMs: 30_000,
      cooldownMs: 30_000,
    });
    const defaults = await load(route('{ failureRate: 0.4 }'));
    if (!defaults.result.ok) throw new Error('the default circuit should load');
    expect(defaults.result.config.routes[0]!.target).toHaveProperty('circuit.consecutiveFailures', 10);
  });

  it('refuses zero and a fraction, with the place', async () => {
    for (const bad of ['0', '2.5']) {
      const { file, result } = await load(route(`{ consecutiveFailures: ${bad} }`));
      expect(result.ok).toBe(false);
      const found = result.ok ? [] : result.issues.map((i) => formatIssue(i).replace(file, 'r.yaml'));
      expect(found.length, bad).toBeGreaterThan(0);
      for (const issue of found) {
        expect(issue).toMatch(
          /^r\.yaml:4:\d+ .*\(at \/routes\/billing\/to\/webhook\/circuit(\/consecutiveFailures)?\)$/,
        );
      }
      expect(found.join('\n')).toContain('consecutiveFailures');
    }
  });
});
