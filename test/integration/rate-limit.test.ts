import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sleep, uniqueName, waitFor } from '../helpers/broker.js';
import { sample } from '../helpers/metrics.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * A route's rate limit (issue 5, item 1) against a real broker and receiver: throttling is
 * back-pressure — deliveries wait unacked in Warren (at most `prefetch`), the rest in the queue;
 * nothing is acked, nacked or requeued to throttle.
 */

const run = promisify(execFile);

/** Ready and unacknowledged messages of a queue, as the broker counts them (no management plugin). */
async function brokerCounts(queue: string): Promise<{ ready: number; unacked: number } | undefined> {
  const { stdout } = await run('rabbitmqctl', [
    'list_queues',
    '-q',
    '--no-table-headers',
    'name',
    'messages_ready',
    'messages_unacknowledged',
  ]);
  for (const line of stdout.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  return undefined;
}

const routes = (exchange: string, queue: string, url: string, rateLimit: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  limited:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: 20
${rateLimit}
    to: { webhook: { url: "${url}", timeout: 2s } }
`;

describe('rate limit', () => {
  const h = useHarness();

  it('drains a backlog at the configured rate, holding at most prefetch, and loses nothing when the limit goes', async () => {
    const exchange = uniqueName('rate');
    const queue = uniqueName('rate.q');
    const limit = '    rateLimit: { rate: 50, per: 1s, burst: 10 }';
    const warren = await startWarren(
      { 'r.yaml': routes(exchange, queue, h.receiver.url(), limit) },
      h.broker,
    );
    h.warren = warren;

    const total = 5_000;
    for (let i = 1; i <= total; i++) {
      h.broker.channel.publish(exchange, 'order.created', Buffer.from(`{"n":${i}}`), {
        messageId: `m-${i}`,
        persistent: true,
        contentType: 'application/json',
      });
    }
    await h.broker.channel.waitForConfirms();

    // Measure over four seconds once the publishing burst is over.
    await sleep(500);
    const route = () => warren.runtime.describe().routes[0]!;
    let maxHeld = 0;
    const watch = setInterval(() => {
      maxHeld = Math.max(maxHeld, route().inFlight);
    }, 20);
    // The broker publishes a quorum queue's counts every few seconds: sample on (while the backlog
    // lasts) until two fresh readings, with ready messages in them, came in.
    const unacked: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      let fresh = 0;
      while (sampling || fresh < 2) {
        const counts = await brokerCounts(queue);
        if (!counts) continue;
        unacked.push(counts.unacked);
        if (counts.ready > 0) fresh++;
      }
    })();
    const startCount = h.receiver.requests.length;
    const startedAt = performance.now();
    await sleep(4_000);
    const rate = ((h.receiver.requests.length - startCount) * 1000) / (performance.now() - startedAt);
    sampling = false;
    await sampler;
    clearInterval(watch);
    expect(h.receiver.requests.length).toBeLessThan(total / 2);

    expect(rate).toBeGreaterThan(35);
    expect(rate).toBeLessThan(65);
    // The broker never has more than prefetch unacked; Warren holds them (waiting for a token).
    expect(Math.max(...unacked)).toBeLessThanOrEqual(20);
    expect(Math.max(...unacked)).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(20);
    expect(route().waiting).toBeGreaterThan(0);
    expect(route().rateLimit).toMatchObject({ rate: 50, perMs: 1_000, burst: 10 });
    const metrics = await (await warren.admin.request('/metrics')).text();
    // Throttled nearly all the time since the backlog arrived (~4.5 s).
    expect(sample(metrics, 'warren_throttled_seconds_total', { route: 'limited' })).toBeGreaterThan(3);

    // The limit goes on reload: the running consumer takes it at once (a handler swap) and the
    // backlog drains in full.
    await writeFile(join(warren.dir, 'r.yaml'), routes(exchange, queue, h.receiver.url(), ''));
    const report = await warren.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'limited', change: 'handler', ok: true }]);
    await waitFor('every message delivered', () => h.receiver.ids().size === total, 60_000);
    await waitFor('the queue to be empty', async () => (await h.broker.depth(queue)) === 0);
    expect(h.receiver.requests).toHaveLength(total);
    // Never requeued or redelivered to throttle: every request was a first delivery.
    expect(h.receiver.requests.filter((r) => r.headers['x-warren-redelivered'] !== 'false')).toEqual([]);
    expect(warren.logs.filter((l) => l.event === 'delivery' && l.outcome !== 'ack')).toEqual([]);
    expect(route().rateLimit).toBeUndefined();
  }, 90_000);
});
