import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { repoRoot, runCliToEnd } from '../helpers/cli.js';
import { accounting, SteadyPublisher } from '../helpers/load.js';
import { sample } from '../helpers/metrics.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren, stopWarren, writeRoutes } from '../helpers/warren.js';

const run = promisify(execFile);
const script = `${repoRoot}/scripts/rabbitmq-cluster`;
// A cluster of its own (names wfo-c1..3, ports 5701..5703), so this file never meets the one
// test/cluster/cluster-script.test.ts starts and stops with the script's defaults.
const clusterEnv = { ...process.env, WARREN_CLUSTER_NAME: 'wfo', WARREN_CLUSTER_PORT: '5701' };
const ports = [5701, 5702, 5703];
const urlOf = (i: number) => `amqp://guest:guest@127.0.0.1:${ports[i]}`;
const erlangNode = (i: number) => `wfo-c${i + 1}@localhost`;
const everyNode = ports.map((_, i) => urlOf(i)).join(',');

const ctl = (i: number, ...args: string[]) =>
  run('rabbitmqctl', ['-q', '-n', erlangNode(i), ...args], { timeout: 60_000 });

/** Nodes whose app this file stopped: started again after each test, whatever failed. */
const stopped = new Set<number>();
async function stopApp(i: number): Promise<void> {
  stopped.add(i);
  await ctl(i, 'stop_app');
}
async function startApp(i: number): Promise<void> {
  await ctl(i, 'start_app');
  await ctl(i, 'await_startup', '--timeout', '60');
  stopped.delete(i);
}

/** The quorum queue's leader, as a running node sees it. */
async function leaderOf(queue: string, askNode: number): Promise<number> {
  const { stdout } = await ctl(askNode, 'list_queues', 'name', 'leader', '--formatter', 'json');
  const rows = JSON.parse(stdout) as Array<{ name: string; leader: string }>;
  const leader = rows.find((r) => r.name === queue)?.leader;
  return ports.findIndex((_, i) => erlangNode(i) === leader);
}

const route = (queue: string, url: string): Record<string, string> => ({
  'routes.yaml': `
routes:
  fo:
    from: { queue: ${queue} }
    prefetch: 20
    to: { webhook: { url: "${url}" } }
`,
});

/**
 * Warren against a live three-node cluster (scripts/rabbitmq-cluster): a node stops under a steady
 * load published through a node that stays up, and every message is counted by id.
 */
describe('failover on a three-node cluster', () => {
  let receiver: Receiver;
  let warren: RunningWarren | undefined;
  const brokers: TestBroker[] = [];
  let publisher: SteadyPublisher | undefined;

  const nodeOf = (w: RunningWarren) => {
    const node = w.runtime.describe().node;
    return node === null ? -1 : ports.indexOf(Number(node.split(':')[1]));
  };
  const readyz = async (w: RunningWarren) => (await w.admin.request('/readyz')).status;
  const connect = async (i: number) => {
    const broker = await TestBroker.connect(urlOf(i));
    brokers.push(broker);
    return broker;
  };
  /** This test's deliveries (its ids start with its queue's name), duplicates included. */
  const received = (queue: string) =>
    receiver.requests.map((r) => String(r.headers['webhook-id'])).filter((id) => id.startsWith(`${queue}-`));
  /** Stops the load, then waits until every published message arrived (a lost one fails here). */
  const expectNoneLost = async (load: SteadyPublisher, queue: string) => {
    await load.stop();
    await waitFor(
      'every published message delivered',
      () => accounting(load.published, received(queue)).lost.length === 0,
      60_000,
    );
    const { lost, duplicates } = accounting(load.published, received(queue));
    expect(lost).toEqual([]);
    return { published: load.published.length, duplicates };
  };

  beforeAll(async () => {
    try {
      await run(script, ['start'], { timeout: 150_000, env: clusterEnv });
    } catch (err) {
      await run(script, ['stop'], { timeout: 60_000, env: clusterEnv }).catch(() => {});
      throw err;
    }
    receiver = await Receiver.start();
  }, 180_000);

  afterEach(async () => {
    // Nodes first: a publisher waits for confirms that only a quorum can give.
    for (const i of [...stopped]) await startApp(i);
    await Promise.race([publisher?.stop().catch(() => {}), sleep(20_000)]);
    publisher = undefined;
    await stopWarren(warren);
    warren = undefined;
    for (const broker of brokers.splice(0)) await broker.connection.close().catch(() => {});
  }, 120_000);

  afterAll(async () => {
    await receiver?.close();
    // Never leaves a node running, whatever happened. A stopped app first: stopping a cluster with a
    // node half down can hang. If the script still fails, the nodes it started are killed by pid.
    for (const i of [...stopped]) await startApp(i).catch(() => {});
    try {
      await run(script, ['stop'], { timeout: 120_000, env: clusterEnv });
    } catch (err) {
      for (const i of ports.keys()) {
        const pid = Number(await readFile(`/tmp/wfo-cluster/c${i + 1}/pid`, 'utf8').catch(() => ''));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
      await rm('/tmp/wfo-cluster', { recursive: true, force: true });
      throw err;
    }
  }, 150_000);

  it('the node Warren is connected to stops: it fails over within 10 s, ready again, nothing lost', async () => {
    const queue = uniqueName('fo.node');
    warren = await startWarren(route(queue, receiver.url()), await connect(0), { url: everyNode });
    const from = nodeOf(warren);
    expect(from).toBeGreaterThanOrEqual(0);
    const metrics = async () => (await warren!.admin.request('/metrics')).text();
    expect(sample(await metrics(), 'warren_amqp_node_info', { node: `127.0.0.1:${ports[from]}` })).toBe(1);

    publisher = new SteadyPublisher(await connect((from + 1) % 3), '', queue, queue, { everyMs: 20 });
    publisher.start();
    await waitFor('deliveries under load', () => receiver.ids().size >= 50, 20_000);

    const stoppedAt = Date.now();
    await stopApp(from);
    await waitFor(
      'Warren on another node and ready',
      async () => nodeOf(warren!) >= 0 && nodeOf(warren!) !== from && (await readyz(warren!)) === 200,
      15_000,
    );
    const failoverMs = Date.now() - stoppedAt;
    expect(failoverMs).toBeLessThan(10_000);
    const to = nodeOf(warren);
    const text = await metrics();
    expect(sample(text, 'warren_amqp_node_info', { node: `127.0.0.1:${ports[to]}` })).toBe(1);
    expect(sample(text, 'warren_amqp_node_info', { node: `127.0.0.1:${ports[from]}` })).toBeUndefined();
    const failover = warren.logs.find((l) => l.event === 'amqp_failover');
    expect(failover).toMatchObject({ from: `127.0.0.1:${ports[from]}`, to: `127.0.0.1:${ports[to]}` });
    expect(JSON.stringify(warren.logs)).not.toContain('guest:guest');
    const before = receiver.ids().size;
    await waitFor('deliveries after the failover', () => receiver.ids().size >= before + 50, 20_000);

    await startApp(from);
    const { published, duplicates } = await expectNoneLost(publisher, queue);
    console.log(`node stop: failover ${failoverMs} ms, ${published} published, ${duplicates} duplicates`);
  }, 90_000);

  it("the node holding the queue's leader stops: the leader moves, Warren keeps consuming, nothing lost", async () => {
    const queue = uniqueName('fo.leader');
    // The queue is declared through node 1, so its leader is there (client-local), and Warren under
    // test is given only the two other nodes: it consumes through a follower.
    const seed = await startWarren(route(queue, receiver.url()), await connect(1), { url: urlOf(0) });
    await stopWarren(seed);
    expect(await leaderOf(queue, 1)).toBe(0);
    warren = await startWarren(route(queue, receiver.url()), await connect(1), {
      url: `${urlOf(1)},${urlOf(2)}`,
    });
    const consumingOn = nodeOf(warren);
    publisher = new SteadyPublisher(await connect(consumingOn === 1 ? 2 : 1), '', queue, queue, {
      everyMs: 20,
    });
    publisher.start();
    await waitFor('deliveries under load', () => receiver.ids().size >= 50, 20_000);

    await stopApp(0);
    await waitFor('a new leader', async () => (await leaderOf(queue, consumingOn)) > 0, 30_000);
    const before = receiver.ids().size;
    await waitFor('deliveries after the leader moved', () => receiver.ids().size >= before + 100, 20_000);
    expect(await readyz(warren)).toBe(200);
    expect(nodeOf(warren)).toBe(consumingOn);

    await startApp(0);
    const { published, duplicates } = await expectNoneLost(publisher, queue);
    console.log(`leader stop: ${published} published, ${duplicates} duplicates`);
  }, 90_000);

  it('two of three nodes down (no quorum) for 10 s: Warren holds, says not ready, then delivers everything', async () => {
    const queue = uniqueName('fo.quorum');
    warren = await startWarren(route(queue, receiver.url()), await connect(0), { url: everyNode });
    const from = nodeOf(warren);
    const survivor = (from + 1) % 3;
    const third = (from + 2) % 3;
    publisher = new SteadyPublisher(await connect(survivor), '', queue, queue, { everyMs: 20 });
    publisher.start();
    await waitFor('deliveries under load', () => receiver.ids().size >= 50, 20_000);

    // The third node first, so the majority is lost when Warren's own node goes, not later: Warren
    // must reconnect, and finds on the survivor a queue without a leader. (A consumer already on the
    // survivor would just see no deliveries: RabbitMQ does not cancel it.)
    await stopApp(third);
    await stopApp(from);
    const downAt = Date.now();
    // Warren moves to the survivor, where it cannot consume, and says so.
    let notReady: unknown;
    await waitFor(
      'not ready while the queue has no quorum',
      async () => {
        const answer = await warren!.admin.request('/readyz');
        if (answer.status === 200) return false;
        notReady = await answer.json();
        return true;
      },
      10_000,
    );
    expect(JSON.stringify(notReady)).toMatch(/not connected|route fo/);
    // For the rest of the 10 s it stays on the survivor, and not ready: the queue cannot be consumed.
    while (Date.now() - downAt < 10_000) {
      const answer = await warren.admin.request('/readyz');
      expect(answer.status).toBe(503);
      await sleep(500);
    }
    expect(nodeOf(warren)).toBe(survivor);
    await Promise.all([startApp(from), startApp(third)]);

    await waitFor('ready again', async () => (await readyz(warren!)) === 200, 60_000);
    const { published, duplicates } = await expectNoneLost(publisher, queue);
    console.log(`quorum lost: ${published} published, ${duplicates} duplicates`);
  }, 120_000);

  it('warren dlq tries the nodes in the order given and uses the first that answers', async () => {
    const queue = uniqueName('fo.dlq');
    const files = route(queue, receiver.url());
    // Warren declares the route's queues, then the first node of the list stops.
    await stopWarren(await startWarren(files, await connect(1), { url: everyNode }));
    const routes = await writeRoutes(files);
    try {
      await stopApp(0);
      const ls = (amqp: string) =>
        runCliToEnd(['dlq', 'ls', 'fo', '--routes', routes, '--amqp', amqp, '--format', 'json']);
      const listed = await ls(`${urlOf(0)},${urlOf(1)}`);
      expect(listed.stderr).toBe('');
      expect(listed.code).toBe(0);
      expect(listed.lines[0]).toMatchObject({ route: 'fo', total: 0 });
      const refused = await ls(urlOf(0));
      expect(refused.code).toBe(1);
      const said = `${refused.text.join('\n')}\n${refused.stderr}`;
      expect(said).toContain('cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:5701');
      expect(said).not.toContain('guest:guest');
    } finally {
      await rm(routes, { recursive: true, force: true });
    }
  }, 60_000);
});
