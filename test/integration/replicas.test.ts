import { beforeEach, describe, expect, it } from 'vitest';
import { sleep, uniqueName, waitFor } from '../helpers/broker.js';
import { type CliProcess, killCli, spawnWarren } from '../helpers/cli.js';
import { trackPlan, useHarness } from '../helpers/warren.js';

/**
 * Replicas with the same routes.d are competing consumers. Each replica here can do at
 * most 40 deliveries a second (2 at a time against a receiver that answers after 50 ms), so the
 * two together finishing faster than one could is the work really being shared.
 */
const messages = 300;
const perReplicaCeiling = 40; // deliveries/s: concurrency 2 / 50 ms

describe('two replicas on the same routes.d', () => {
  const h = useHarness();

  beforeEach(() => {
    h.receiver.responder = async () => {
      await sleep(50);
      return 200;
    };
  });

  it('shares the deliveries as competing consumers: every message once, faster than one replica can', async () => {
    const exchange = uniqueName('replica-x');
    const queue = uniqueName('replica-q');
    const dir = await h.routesDir({
      'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  shared:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: 2
    to: { webhook: { url: "${h.receiver.url('/shared')}" } }
    retry: { backoff: [1s] }
`,
    });
    await trackPlan(h.broker, dir);
    const replicas: CliProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const replica = await spawnWarren({ routes: dir });
      h.defer(() => killCli(replica));
      replicas.push(replica);
    }
    for (const [i, r] of replicas.entries()) {
      await waitFor(`replica ${i} consuming`, () =>
        r.lines.some((l) => l.event === 'route_state' && l.state === 'consuming'),
      );
    }

    const started = performance.now();
    for (let i = 0; i < messages; i++) {
      await h.broker.publish(exchange, 'k', `{"n":${i}}`, { messageId: `m-${i}` });
    }
    const delivered = (r: CliProcess) => r.lines.filter((l) => l.event === 'delivery' && l.outcome === 'ack');
    await waitFor(
      'every message acked',
      () => replicas.reduce((sum, r) => sum + delivered(r).length, 0) >= messages,
      30_000,
    );
    const seconds = (performance.now() - started) / 1000;

    // Every message reached the receiver exactly once.
    expect(h.receiver.requests.length).toBe(messages);
    expect(h.receiver.ids().size).toBe(messages);
    // Both replicas took a real share.
    const shares = replicas.map((r) => delivered(r).length);
    expect(Math.min(...shares)).toBeGreaterThan(messages / 5);
    // Together they beat what one replica can do at most (a single one needs ≥ 7.5 s here).
    expect(messages / seconds).toBeGreaterThan(perReplicaCeiling * 1.2);
    expect(await h.broker.depth(queue)).toBe(0);
  });
});
