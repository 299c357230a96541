import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { planTopology } from '../../src/topology/plan.js';
import { amqpUrl, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { closedPort, Receiver } from '../helpers/receiver.js';

/** The real CLI (`warren run`) as a child process, with its JSON log lines parsed. */
interface WarrenProcess {
  child: ChildProcess;
  adminPort: number;
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function spawnWarren(routesDir: string, drainTimeout: string): Promise<WarrenProcess> {
  const adminPort = await closedPort();
  const args = [
    'run',
    '--routes',
    routesDir,
    '--admin-port',
    String(adminPort),
    '--drain-timeout',
    drainTimeout,
  ];
  return { ...runCli(args, { AMQP_URL: amqpUrl, WARREN_LOG_LEVEL: 'debug' }), adminPort };
}

/** Resolves with the exit, or rejects when the process is still running after `ms`. */
function exitWithin(
  proc: WarrenProcess,
  ms: number,
): Promise<{ code: number | null; signal: string | null }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    proc.exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`warren still running ${ms} ms after SIGTERM`)), ms);
    }),
  ]);
}

describe('SIGTERM with deliveries in flight', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let warren: WarrenProcess | undefined;
  let routesDir: string | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
  });

  afterEach(async () => {
    const child = warren?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await warren!.exited;
    }
    warren = undefined;
    if (routesDir) await rm(routesDir, { recursive: true, force: true });
    routesDir = undefined;
    await receiver.close();
    await broker.close();
  });

  /** Writes one webhook route and tracks every queue it declares for cleanup. */
  async function writeRoute(queue: string, extra: string): Promise<void> {
    routesDir = await mkdtemp(join(tmpdir(), 'warren-routes-'));
    await writeFile(
      join(routesDir, 'routes.yaml'),
      `
routes:
  slow:
    from: { queue: ${queue} }
${extra}
`,
    );
    const loaded = await loadConfig(routesDir, process.env);
    if (!loaded.ok) throw new Error(`invalid test routes: ${JSON.stringify(loaded.issues)}`);
    broker.track('queue', ...planTopology(loaded.config).routes.flatMap((r) => r.queues.map((q) => q.name)));
  }

  async function waitUntilReady(proc: WarrenProcess): Promise<void> {
    await waitFor(`warren to be ready (stderr: ${proc.stderr()})`, async () => {
      const res = await fetch(`http://127.0.0.1:${proc.adminPort}/readyz`);
      return res.status === 200;
    });
  }

  it('finishes the deliveries in flight, exits 0 and loses nothing', async () => {
    const queue = uniqueName('shutdown');
    // Each request takes ~300 ms; at most 8 at once, 16 more held unstarted by the prefetch.
    await writeRoute(
      queue,
      `    prefetch: 24
    concurrency: 8
    to: { webhook: { url: "${receiver.url()}", timeout: 30s } }`,
    );
    const answered = new Set<string>();
    receiver.responder = async (req) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      answered.add(String(req.headers['webhook-id']));
      return 200;
    };
    warren = await spawnWarren(routesDir!, '5s');
    await waitUntilReady(warren);

    const published: string[] = [];
    for (let i = 0; i < 50; i++) {
      const id = `${queue}-${i}`;
      await broker.publish('', queue, JSON.stringify({ n: i }), { messageId: id });
      published.push(id);
    }
    await waitFor('requests in flight at the receiver', () => receiver.requests.length >= 8);
    const startedBeforeSignal = receiver.requests.length;
    warren.child.kill('SIGTERM');
    const exit = await exitWithin(warren, 5_000 + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });

    // Every request that reached the receiver was answered and acked before the channel closed.
    expect(answered.size).toBe(receiver.ids().size);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(startedBeforeSignal);
    const stopped = warren.lines.find((l) => l.event === 'stopped');
    expect(stopped?.unfinished).toBe(0);

    // Nothing lost: each id was delivered with a 2xx, or is back in the queue, and not both.
    const left = (await broker.drain(queue)).map((m) => String(m.properties.messageId));
    const delivered = receiver.ids();
    expect(published.filter((id) => !delivered.has(id) && !left.includes(id))).toEqual([]);
    expect(left.filter((id) => delivered.has(id))).toEqual([]);
    expect(delivered.size + left.length).toBe(published.length);
    // Shutdown happened mid-stream: some were delivered, some handed back.
    expect(delivered.size).toBeGreaterThan(0);
    expect(left.length).toBeGreaterThan(0);
    expect(await broker.depth(`${queue}.dlq`)).toBe(0);
  });

  it('stops at the drain deadline, exits 0 and hands a hung delivery back to the queue', async () => {
    const queue = uniqueName('shutdown.hung');
    await writeRoute(queue, `    to: { webhook: { url: "${receiver.url()}", timeout: 60s } }`);
    // Never answers: the delivery stays in the handler until Warren gives up on it.
    receiver.responder = () => 'handled';
    warren = await spawnWarren(routesDir!, '1s');
    await waitUntilReady(warren);

    await broker.publish('', queue, '{"hung":true}', { messageId: 'hung-1' });
    await waitFor('the request at the hung receiver', () => receiver.ids().has('hung-1'));
    warren.child.kill('SIGTERM');
    const exit = await exitWithin(warren, 1_000 + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(warren.lines.find((l) => l.event === 'stopped')?.unfinished).toBe(1);

    await waitFor('the unfinished delivery back in the queue', async () => (await broker.depth(queue)) === 1);
    const [back] = await broker.drain(queue);
    expect(back?.properties.messageId).toBe('hung-1');
    expect(back?.fields.redelivered).toBe(true);
    expect(await broker.depth(`${queue}.dlq`)).toBe(0);
  });
});
