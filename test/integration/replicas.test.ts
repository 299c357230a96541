import { beforeEach, describe, expect, it } from 'vitest';
import { sleep, uniqueName, waitFor } from '../helpers/broker.js';
import { type CliProcess, killCli, spawnWarren } from '../helpers/cli.js';
import { trackPlan, useHarness } from '../helpers/warren.js';

/**
 * Replicas with the same routes.d are competing consumers. Each replica here holds at most 2
 * requests open at once (prefetch 2, against a receiver that answers after 50 ms), so the receiver
 * seeing more than 2 at once is the two working at the same time — shown without a clock, which a
 * loaded machine would make lie.
 */
const messages = 300;
const perReplicaConcurrency = 2;

describe('two replicas on the same routes.d', () => {
  const h = useHarness();

  let open = 0;
  let mostOpen = 0;

  beforeEach(() => {
    open = 0;
    mostOpen = 0;
    h.receiver.responder = async () => {
      open++;
      mostOpen = Math.max(mostOpen, open);
      await sleep(50);
      open--;
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

    for (let i = 0; i < messages; i++) {
      await h.broker.publish(exchange, 'k', `{"n":${i}}`, { messageId: `m-${i}` });
    }
    const delivered = (r: CliProcess) => r.lines.filter((l) => l.event === 'delivery' && l.outcome === 'ack');
    await waitFor(
      'every message acked',
      () => replicas.reduce((sum, r) => sum + delivered(r).length, 0) >= messages,
      30_000,
    );

    // Every message reached the receiver exactly once.
    expect(h.receiver.requests.length).toBe(messages);
    expect(h.receiver.ids().size).toBe(messages);
    // Both replicas took a real share.
    const shares = replicas.map((r) => delivered(r).length);
    expect(Math.min(...shares)).toBeGreaterThan(messages / 5);
    // At the same time: more requests open at once than one replica can hold.
    expect(mostOpen).toBeGreaterThan(perReplicaConcurrency);
    expect(mostOpen).toBeLessThanOrEqual(2 * perReplicaConcurrency);
    expect(await h.broker.depth(queue)).toBe(0);
  });
});
