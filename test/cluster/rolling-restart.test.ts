import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { repoRoot } from '../helpers/cli.js';
import { accounting, SteadyPublisher } from '../helpers/load.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren, stopWarren } from '../helpers/warren.js';

const run = promisify(execFile);
const script = `${repoRoot}/scripts/rabbitmq-cluster`;
// A cluster of its own (names wrr-c1..3, ports 5731..5733), apart from the other cluster tests'.
const clusterEnv = { ...process.env, WARREN_CLUSTER_NAME: 'wrr', WARREN_CLUSTER_PORT: '5731' };
const ports = [5731, 5732, 5733];
const urlOf = (i: number) => `amqp://guest:guest@127.0.0.1:${ports[i]}`;
const erlangNode = (i: number) => `wrr-c${i + 1}@localhost`;
const everyNode = ports.map((_, i) => urlOf(i)).join(',');
const prefetch = 20;

const ctl = (i: number, ...args: string[]) =>
  run('rabbitmqctl', ['-q', '-n', erlangNode(i), ...args], { timeout: 60_000 });

/** Nodes whose app this file stopped: started again in the tear-down, whatever failed. */
const stopped = new Set<number>();

/** Back in the cluster as a running node, and a member of the queue that is online again. */
async function rejoined(i: number, queue: string): Promise<boolean> {
  const status = JSON.parse((await ctl(i, 'cluster_status', '--formatter', 'json')).stdout) as {
    running_nodes: string[];
  };
  if (status.running_nodes.length !== ports.length) return false;
  const rows = JSON.parse(
    (await ctl(i, 'list_queues', 'name', 'leader', 'online', '--formatter', 'json')).stdout,
  ) as Array<{ name: string; leader: string; online: string[] }>;
  const row = rows.find((r) => r.name === queue);
  return !!row && ports.some((_, n) => erlangNode(n) === row.leader) && row.online.length === ports.length;
}

const route = (queue: string, url: string): Record<string, string> => ({
  'routes.yaml': `
routes:
  rr:
    from: { queue: ${queue} }
    prefetch: ${prefetch}
    to: { webhook: { url: "${url}" } }
`,
});

/**
 * A rolling restart of a live three-node cluster (scripts/rabbitmq-cluster) under a steady load:
 * each node in turn stops, comes back and rejoins before the next goes. The load is published
 * through a node that stays up at each moment; every confirmed message is counted by id.
 */
describe('rolling restart of a three-node cluster', () => {
  let receiver: Receiver;
  let warren: RunningWarren | undefined;
  const brokers: TestBroker[] = [];

  const connect = async (i: number) => {
    const broker = await TestBroker.connect(urlOf(i));
    // Its node may be restarted later in the test: the broker closing it is expected.
    broker.connection.on('error', () => {});
    brokers.push(broker);
    return broker;
  };

  beforeAll(async () => {
    try {
      await run(script, ['start'], { timeout: 150_000, env: clusterEnv });
    } catch (err) {
      await run(script, ['stop'], { timeout: 120_000, env: clusterEnv }).catch(() => {});
      throw err;
    }
    receiver = await Receiver.start();
  }, 180_000);

  afterAll(async () => {
    await stopWarren(warren).catch(() => {});
    for (const broker of brokers.splice(0)) await broker.connection.close().catch(() => {});
    await receiver?.close();
    // Never leaves a node running, whatever happened: a stopped app first, and if the script still
    // fails, the nodes it started are killed by pid.
    for (const i of [...stopped]) await ctl(i, 'start_app').catch(() => {});
    try {
      await run(script, ['stop'], { timeout: 120_000, env: clusterEnv });
    } catch (err) {
      for (const i of ports.keys()) {
        const pid = Number(await readFile(`/tmp/wrr-cluster/c${i + 1}/pid`, 'utf8').catch(() => ''));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
      await rm('/tmp/wrr-cluster', { recursive: true, force: true });
      throw err;
    }
  }, 150_000);

  it('restarts every node in turn: nothing lost, duplicates counted, Warren ready at the end', async () => {
    const queue = uniqueName('rr');
    warren = await startWarren(route(queue, receiver.url()), await connect(0), { url: everyNode });
    const received = () =>
      receiver.requests
        .map((r) => String(r.headers['webhook-id']))
        .filter((id) => id.startsWith(`${queue}-`));
    const readyz = async () => (await warren!.admin.request('/readyz')).status;
    const nodesUsed = new Set<string>([String(warren.runtime.describe().node)]);
    const publishers: SteadyPublisher[] = [];
    const publishThrough = async (i: number) => {
      const load = new SteadyPublisher(await connect(i), '', queue, `${queue}-p${publishers.length}`, {
        everyMs: 20,
      });
      publishers.push(load);
      load.start();
      return load;
    };

    let on = 1;
    let load = await publishThrough(on);
    await waitFor('deliveries under load', () => received().length >= 50, 20_000);

    for (const i of ports.keys()) {
      // The publisher moves off the node about to stop before it stops: the old one ends once
      // everything it published is confirmed, so only confirmed ids count as published.
      if (on === i) {
        on = (i + 1) % ports.length;
        const next = await publishThrough(on);
        await load.stop();
        load = next;
      }
      stopped.add(i);
      await ctl(i, 'stop_app');
      await sleep(2_000);
      await ctl(i, 'start_app');
      await ctl(i, 'await_startup', '--timeout', '60');
      stopped.delete(i);
      await waitFor(`node ${i + 1} back in the cluster and in the queue`, () => rejoined(i, queue), 30_000);
      const before = received().length;
      await waitFor(
        `deliveries after node ${i + 1} restarted`,
        () => received().length >= before + 50,
        20_000,
      );
      const node = warren.runtime.describe().node;
      if (node) nodesUsed.add(node);
    }

    await load.stop();
    const published = publishers.flatMap((p) => p.published);
    await waitFor(
      'every published message delivered',
      () => accounting(published, received()).lost.length === 0,
      60_000,
    );
    const { lost, duplicates } = accounting(published, received());
    const failovers = warren.logs.filter((l) => l.event === 'amqp_failover').length;
    const report = `rolling restart: ${published.length} published, ${duplicates} duplicates, ${failovers} failovers, nodes used ${[...nodesUsed].join(' ')}`;
    console.log(report);
    expect(lost, report).toEqual([]);
    // A delivery is sent twice only when its ack was lost with a channel: at most `prefetch`
    // unacked per channel lost, and Warren's channel is lost at most once per node restarted.
    expect(duplicates, report).toBeLessThanOrEqual(prefetch * ports.length);
    await waitFor('Warren ready at the end', async () => (await readyz()) === 200, 30_000);
  }, 150_000);
});
