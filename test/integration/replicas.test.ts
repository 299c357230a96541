import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { amqpUrl, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { type CliProcess, runCli } from '../helpers/cli.js';
import { closedPort, Receiver } from '../helpers/receiver.js';
import { writeRoutes } from '../helpers/warren.js';

/**
 * DESIGN §9: replicas with the same routes.d are competing consumers. Each replica here can do at
 * most 40 deliveries a second (2 at a time against a receiver that answers after 50 ms), so the
 * two together finishing faster than one could is the work really being shared.
 */
const messages = 300;
const perReplicaCeiling = 40; // deliveries/s: concurrency 2 / 50 ms

describe('two replicas on the same routes.d', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  const replicas: CliProcess[] = [];

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 200;
    });
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      r.child.kill('SIGTERM');
      await r.exited;
    }
    await receiver.close();
    await broker.close();
  });

  it('shares the deliveries as competing consumers: every message once, faster than one replica can', async () => {
    const exchange = uniqueName('replica-x');
    const queue = uniqueName('replica-q');
    broker.track('exchange', exchange);
    broker.track('queue', queue, `${queue}.dlq`, `warren.retry.${queue}.1s`);
    const dir = await writeRoutes({
      'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  shared:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: 2
    to: { webhook: { url: "${receiver.url('/shared')}" } }
    retry: { backoff: [1s] }
`,
    });
    for (let i = 0; i < 2; i++) {
      const port = await closedPort();
      replicas.push(
        runCli(['run', '--routes', dir, '--admin-port', String(port)], {
          AMQP_URL: amqpUrl,
          WARREN_LOG_LEVEL: 'debug',
        }),
      );
    }
    for (const [i, r] of replicas.entries()) {
      await waitFor(`replica ${i} consuming`, () =>
        r.lines.some((l) => l.event === 'route_state' && l.state === 'consuming'),
      );
    }

    const started = performance.now();
    for (let i = 0; i < messages; i++) {
      await broker.publish(exchange, 'k', `{"n":${i}}`, { messageId: `m-${i}` });
    }
    const delivered = (r: CliProcess) => r.lines.filter((l) => l.event === 'delivery' && l.outcome === 'ack');
    await waitFor(
      'every message acked',
      () => replicas.reduce((sum, r) => sum + delivered(r).length, 0) >= messages,
      30_000,
    );
    const seconds = (performance.now() - started) / 1000;

    // Every message reached the receiver exactly once.
    expect(receiver.requests.length).toBe(messages);
    expect(receiver.ids().size).toBe(messages);
    // Both replicas took a real share.
    const shares = replicas.map((r) => delivered(r).length);
    expect(Math.min(...shares)).toBeGreaterThan(messages / 5);
    // Together they beat what one replica can do at most (a single one needs ≥ 7.5 s here).
    expect(messages / seconds).toBeGreaterThan(perReplicaCeiling * 1.2);
    expect(await broker.depth(queue)).toBe(0);
  });
});
