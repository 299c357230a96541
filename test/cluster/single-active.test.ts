import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, repoRoot, spawnWarren, type WarrenProcess, waitReady } from '../helpers/cli.js';
import { useHarness } from '../helpers/warren.js';

const run = promisify(execFile);
const script = `${repoRoot}/scripts/rabbitmq-cluster`;
/** A cluster of its own (names, ports, directory), so it can run beside the other cluster tests. */
const clusterEnv = { ...process.env, WARREN_CLUSTER_NAME: 'wsa', WARREN_CLUSTER_PORT: '5711' };

const messages = 300;
const prefetch = 4;

type RouteView = { name: string; singleActiveConsumer?: string };

async function activity(proc: WarrenProcess): Promise<string | undefined> {
  const body = (await (await proc.admin('/api/routes')).json()) as { routes: RouteView[] };
  return body.routes.find((r) => r.name === 'ordered')?.singleActiveConsumer;
}

/**
 * Proof 5 of issue 11: two Warren processes on a `singleActiveConsumer` route against a
 * three-node cluster, each connected to another node, the publisher to the third. One consumes,
 * the other stands by; SIGKILL the active one and the other takes over. Nothing is lost, and the
 * messages the killed one never received arrive in queue order; only those it held unacked (at
 * most `prefetch`, plus the one whose ack it may not have sent) come again.
 */
describe('single active consumer on a three-node cluster', () => {
  const h = useHarness();
  let urls: string[] = [];

  beforeAll(async () => {
    await run(script, ['start'], { timeout: 150_000, env: clusterEnv });
    urls = (await run(script, ['urls'], { env: clusterEnv })).stdout.trim().split(',');
  }, 160_000);

  afterAll(async () => {
    await run(script, ['stop'], { timeout: 60_000, env: clusterEnv });
  }, 70_000);

  it('one replica consumes; killed, the other takes over with order kept for what was not in flight', async () => {
    expect(urls).toHaveLength(3);
    const cluster = await TestBroker.connect(urls[0]);
    h.defer(() => cluster.close());
    const queue = uniqueName('sac');
    h.receiver.responder = async () => {
      await sleep(10);
      return 200;
    };
    const dir = await h.routesDir({
      'r.yaml': `
routes:
  ordered:
    from: { queue: ${queue}, replicas: 3 }
    singleActiveConsumer: true
    prefetch: ${prefetch}
    to: { webhook: { url: "${h.receiver.url('/ordered')}" } }
`,
    });
    const first = await spawnWarren({ routes: dir, amqp: urls[1]! });
    h.defer(() => killCli(first));
    await waitReady(first);
    const second = await spawnWarren({ routes: dir, amqp: urls[2]! });
    h.defer(() => killCli(second));
    await waitReady(second);

    for (let i = 0; i < messages; i++) {
      cluster.channel.sendToQueue(queue, Buffer.from(`{"n":${i}}`), {
        persistent: true,
        messageId: `m-${i}`,
      });
    }
    await cluster.channel.waitForConfirms();
    const n = (i: number) => (JSON.parse(h.receiver.requests[i]!.body) as { n: number }).n;

    await waitFor(
      'a third of the messages delivered',
      () => h.receiver.requests.length >= messages / 3,
      30_000,
    );
    // The first subscriber is the active one; the other has had nothing.
    expect(await activity(first)).toBe('active');
    expect(await activity(second)).toBe('standby-or-idle');

    first.child.kill('SIGKILL');
    await first.exited;
    const split = h.receiver.requests.length;
    await waitFor(
      'every message delivered',
      () => new Set(h.receiver.requests.map((_, i) => n(i))).size === messages,
      60_000,
    );
    expect(await activity(second)).toBe('active');

    const all = h.receiver.requests.map((_, i) => n(i));
    const before = all.slice(0, split);
    const after = all.slice(split);
    // Before the kill: one consumer, one handler at a time, queue order.
    const k = before.length - 1;
    expect(before).toEqual(Array.from({ length: before.length }, (_, i) => i));
    // What the killed replica may have held unacked: the last it sent (its ack perhaps unsent) and
    // the ones it had prefetched. Only those come again; everything after them comes in order.
    const inFlight = (m: number) => m >= k - 1 && m <= k + prefetch;
    const again = after.filter((m) => m <= k);
    expect(again.every(inFlight), `redelivered ${again.join(',')} after ${k}`).toBe(true);
    const rest = after.filter((m) => !inFlight(m));
    expect(rest).toEqual(
      Array.from({ length: messages - (k + prefetch + 1) }, (_, i) => k + prefetch + 1 + i),
    );
    const duplicates = all.length - messages;
    console.log(
      `single active consumer: killed after ${before.length} deliveries, ${duplicates} delivered twice (${again.join(',') || 'none'})`,
    );
    expect(duplicates).toBeLessThanOrEqual(prefetch + 2);
  });
});
