import { describe, expect, it } from 'vitest';
import { retryTierQueue } from '../../src/topology/plan.js';
import { sleep, type TestBroker, uniqueName } from '../helpers/broker.js';
import { startWarren, stopWarren, useHarness } from '../helpers/warren.js';

/**
 * Issue 9 §3, the scenario as measured: 20 s of healthy traffic at 500 msg/s fill the default
 * circuit's window with successes, then the receiver goes down for 40 s while traffic goes on.
 * With the rate alone it took 8,636 failed requests and 12 s to open, making 8,639 retry copies.
 * Required: open within 2 s, fewer than 100 retry copies. Both outages a receiver has — down
 * (connection refused) and up but answering 503 — run side by side, one route each.
 *
 * The two bounds are timing-dependent on purpose (the issue demands them). 2 s is generous: ten
 * failures in a row take a few milliseconds at this rate. The retry backoff is 10 minutes so that
 * every copy made stays in the delay tier to be counted; the circuit policy is the default.
 */

const healthyMs = 20_000;
const outageMs = 40_000;
const perSecond = 500;

/**
 * Publishes at `perSecond` on its own confirm channel until `stop()`: each turn sends what the
 * elapsed time is due (so a slow turn catches up instead of lowering the rate), confirms are awaited
 * at the end. Bounded by the test's duration.
 */
async function steadyPublisher(broker: TestBroker, exchange: string) {
  const channel = await broker.connection.createConfirmChannel();
  const start = Date.now();
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const due = Math.floor(((Date.now() - start) * perSecond) / 1_000);
      for (; sent < due; sent++) {
        channel.publish(exchange, 'order.created', Buffer.from(`{"n":${sent}}`), {
          messageId: `m-${sent}`,
          persistent: true,
        });
      }
      await sleep(5);
    }
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      running = false;
      await loop;
      await channel.waitForConfirms();
      await channel.close();
    },
  };
}

const routeFile = (name: string, exchange: string, queue: string, url: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  ${name}:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    retry: { attempts: 5, backoff: [10m] }
    to: { webhook: { url: "${url}", timeout: 5s } }
`;

interface OutageResult {
  published: number;
  delivered: number;
  openedAfterMs: number;
  retryCopies: number;
  transitions: string[];
}

describe('the default circuit when the receiver goes down after a warm-up', () => {
  const h = useHarness();

  async function outage(kind: 'refused' | '503'): Promise<OutageResult> {
    const name = `outage-${kind}`;
    const exchange = uniqueName(`outage.${kind}`);
    const queue = uniqueName(`outage.${kind}.q`);
    const down = { on: false };
    const receiver = await h.receive(() => (down.on ? 503 : 200));
    const warren = await startWarren(
      { 'r.yaml': routeFile(name, exchange, queue, receiver.url()) },
      h.broker,
    );
    h.defer(() => stopWarren(warren));
    const publisher = await steadyPublisher(h.broker, exchange);
    await sleep(healthyMs);
    const published = publisher.sent;
    const delivered = receiver.requests.length;

    const outageStart = Date.now();
    if (kind === 'refused') await receiver.close();
    else down.on = true;
    await sleep(outageMs);
    await publisher.stop();

    const circuit = warren.logs.filter((l) => l.event === 'circuit');
    const opened = circuit.find((l) => l.state === 'open');
    return {
      published,
      delivered,
      openedAfterMs: opened === undefined ? Number.POSITIVE_INFINITY : Number(opened.time) - outageStart,
      retryCopies: await h.broker.depth(retryTierQueue(queue, 600_000)),
      transitions: circuit.map((l) => `${String(l.from)}->${String(l.state)}`),
    };
  }

  it('opens within 2 s of the outage and makes fewer than 100 retry copies, down or answering 503', async () => {
    const [refused, unavailable] = await Promise.all([outage('refused'), outage('503')]);
    for (const result of [refused, unavailable]) {
      // The warm-up ran at 500 msg/s and filled the window with thousands of successes (how many
      // Warren delivered depends on the machine: 5,500 here, 3,300 under load; even 1,000 would
      // make the rate alone wait for about as many failures, each a retry copy).
      expect(result.published, JSON.stringify(result)).toBeGreaterThan(9_000);
      expect(result.delivered, JSON.stringify(result)).toBeGreaterThan(1_000);
      expect(result.openedAfterMs, JSON.stringify(result)).toBeGreaterThanOrEqual(0);
      expect(result.openedAfterMs, JSON.stringify(result)).toBeLessThan(2_000);
      expect(result.retryCopies, JSON.stringify(result)).toBeLessThan(100);
      // It stayed open through the outage: one probe after the 30 s cooldown, which failed.
      expect(result.transitions, JSON.stringify(result)).toEqual([
        'closed->open',
        'open->half-open',
        'half-open->open',
      ]);
    }
  }, 120_000);
});
