import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { retryTierQueue } from '../../src/topology/plan.js';
import { sleep, uniqueName, waitFor } from '../helpers/broker.js';
import { type RunningWarren, startWarren, useHarness } from '../helpers/warren.js';

/**
 * A webhook route's circuit breaker (issue 5, item 2) against a real broker and receiver: a failing
 * receiver opens it; while open, deliveries wait unacked (up to prefetch) or in the queue, and burn
 * no retry attempts; after the cooldown one probe goes through, and its success lets everything in.
 */

const routes = (exchange: string, queue: string, url: string, prefetch = 10, cooldown = '2s') => `
exchanges: { ${exchange}: { type: topic } }
routes:
  flaky:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: ${prefetch}
    concurrency: 1
    retry: { attempts: 10, backoff: [300ms] }
    to:
      webhook:
        url: "${url}"
        timeout: 2s
        circuit: { failureRate: 0.5, minRequests: 5, window: 30s, cooldown: ${cooldown} }
`;

type LogLine = Record<string, unknown>;

const circuitLogs = (warren: RunningWarren): LogLine[] => warren.logs.filter((l) => l.event === 'circuit');
const transitions = (warren: RunningWarren): string[] =>
  circuitLogs(warren).map((l) => `${String(l.from)}->${String(l.state)}`);
const retries = (warren: RunningWarren): LogLine[] =>
  warren.logs.filter((l) => l.event === 'delivery' && l.outcome === 'retry');
const route = (warren: RunningWarren) => warren.runtime.describe().routes[0]!;

describe('circuit breaker', () => {
  const h = useHarness();

  /** Starts the route against a receiver that answers 503 while `failing.on`, and publishes `n`. */
  async function failingRoute(n: number, cooldown = '2s') {
    const exchange = uniqueName('circuit');
    const queue = uniqueName('circuit.q');
    const failing = { on: true };
    h.receiver.responder = () => (failing.on ? 503 : 200);
    const warren = await startWarren(
      { 'r.yaml': routes(exchange, queue, h.receiver.url(), 10, cooldown) },
      h.broker,
    );
    h.warren = warren;
    for (let i = 1; i <= n; i++) {
      h.broker.channel.publish(exchange, 'k', Buffer.from(`{"n":${i}}`), {
        messageId: `m-${i}`,
        persistent: true,
      });
    }
    await h.broker.channel.waitForConfirms();
    await waitFor('the circuit to open', () => route(warren).circuit?.state === 'open');
    return { exchange, queue, failing, warren, tier: retryTierQueue(queue, 300) };
  }

  it('opens on a failing receiver, holds deliveries without burning attempts, and delivers everything after a good probe', async () => {
    const { queue, failing, warren, tier } = await failingRoute(50, '3s');

    // Opened after exactly minRequests failures (one handler at a time): five retry copies (the
    // last one is logged once its copy is confirmed, just after the circuit opened).
    expect(h.receiver.requests).toHaveLength(5);
    await waitFor('the fifth retry copy', () => retries(warren).length >= 5);
    const metrics = await (await warren.admin.request('/metrics')).text();
    expect(metrics).toContain('warren_circuit_state{route="flaky"} 1');
    // A receiver outage does not make Warren unready.
    expect((await warren.admin.request('/readyz')).status).toBe(200);

    // While open: nothing reaches the receiver; prefetch deliveries wait unacked in Warren, the rest
    // (the retry copies back from their tier included) wait in the queue. Nothing is lost.
    await sleep(1_000);
    expect(route(warren).circuit?.state).toBe('open');
    expect(h.receiver.requests).toHaveLength(5);
    expect(retries(warren)).toHaveLength(5);
    expect(route(warren).waiting).toBe(10);
    const ready = await h.broker.depth(queue);
    const delayed = await h.broker.depth(tier);
    expect(ready + delayed + route(warren).inFlight).toBe(50);
    expect(ready).toBe(40);

    // The receiver recovers: after the cooldown, one probe; its success closes the circuit.
    failing.on = false;
    await waitFor('the circuit to close', () => route(warren).circuit?.state === 'closed', 15_000);
    await waitFor('every message delivered', () => h.receiver.ids().size === 50);
    await waitFor(
      'the queue to be settled',
      async () => (await h.broker.depth(queue)) === 0 && route(warren).inFlight === 0,
    );
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);

    // Retry copies: the five failures before it opened, plus one per probe that failed.
    const failedProbes = transitions(warren).filter((t) => t === 'half-open->open').length;
    expect(retries(warren)).toHaveLength(5 + failedProbes);
    expect(h.receiver.requests).toHaveLength(50 + 5 + failedProbes);
    expect(transitions(warren).slice(0, 2)).toEqual(['closed->open', 'open->half-open']);
    expect(transitions(warren).at(-1)).toBe('half-open->closed');
    const successes = warren.logs.filter((l) => l.event === 'delivery' && l.outcome === 'ack');
    expect(successes).toHaveLength(50);
    const after = await (await warren.admin.request('/metrics')).text();
    expect(after).toContain('warren_circuit_state{route="flaky"} 0');
    expect(circuitLogs(warren)[0]).toMatchObject({ route: 'flaky', state: 'open', level: 40 });
  }, 40_000);

  it('keeps holding across a source reload, and hands held deliveries back at shutdown at once', async () => {
    // A long cooldown: no probe during this test.
    const { exchange, queue, failing, warren } = await failingRoute(30, '30s');

    // A prefetch change starts a new consumer: the old one hands its held deliveries back, the new
    // one holds them under the same (still open) circuit.
    await writeFile(join(warren.dir, 'r.yaml'), routes(exchange, queue, h.receiver.url(), 8, '30s'));
    const report = await warren.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'flaky', change: 'source', ok: true }]);
    expect(route(warren).circuit?.state).toBe('open');
    await waitFor('the new consumer to hold its prefetch', () => route(warren).waiting === 8);
    expect(h.receiver.requests).toHaveLength(5);

    // Shutdown does not wait for the circuit: held deliveries are handed back, not run.
    const started = performance.now();
    const { unfinished } = await warren.stop(10_000);
    expect(unfinished).toBe(0);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(h.receiver.requests).toHaveLength(5);
    failing.on = false;
    // Everything is still there: 25 never delivered, 5 retry copies (in the queue or their tier).
    await waitFor(
      'the retry copies back in the source queue',
      async () => (await h.broker.depth(queue)) === 30,
    );
  }, 40_000);
});
