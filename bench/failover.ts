/**
 * The failover figure: under a steady stream published through a node that stays up, the longest
 * time between two consecutive deliveries at the webhook receiver while the node Warren is
 * connected to stops (stop_app), beside the same figure over an equal window with no failover.
 * Needs a three-node cluster of its own (scripts/rabbitmq-cluster: root and rabbitmq-server).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { Runtime } from '../src/runtime/runtime.js';

const run = promisify(execFile);
// Its own cluster (names wbench-c1..3, ports 5741..5743): never the test suite's.
const clusterEnv = { ...process.env, WARREN_CLUSTER_NAME: 'wbench', WARREN_CLUSTER_PORT: '5741' };
const ports = [5741, 5742, 5743];
const urlOf = (i: number) => `amqp://guest:guest@127.0.0.1:${ports[i]}`;
const ctl = (i: number, ...args: string[]) =>
  run('rabbitmqctl', ['-q', '-n', `wbench-c${i + 1}@localhost`, ...args], { timeout: 60_000 });

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface FailoverFigure {
  ratePerSecond: number;
  windowMs: number;
  /** Longest time between two deliveries with no failover, and while Warren's node stops. */
  quietGapMs: number;
  failoverGapMs: number;
  /** From stop_app until Warren is on another node and ready. */
  readyAgainMs: number;
  from: string;
  to: string;
}

export type FailoverResult = FailoverFigure | { skipped: string };

/** Next to dist/bench (the built bench) or bench/ (the sources): the repository's script. */
function clusterScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, '..', 'scripts'), join(here, '..', '..', 'scripts')]
    .map((d) => join(d, 'rabbitmq-cluster'))
    .find((p) => existsSync(p));
}

async function whyNot(script: string | undefined): Promise<string | undefined> {
  if (!script) return 'scripts/rabbitmq-cluster not found';
  if (process.getuid?.() !== 0) return 'the cluster script runs nodes as the rabbitmq user: needs root';
  const found = await run('sh', ['-c', 'command -v rabbitmq-server']).catch(() => undefined);
  return found ? undefined : 'rabbitmq-server is not installed';
}

/** A webhook receiver that notes when each delivery arrives. */
async function arrivals(): Promise<{ url: string; at: number[]; server: Server }> {
  const at: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      at.push(now());
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, at, server };
}

/** The longest time between consecutive arrivals in [from, to], counting from the one before `from`. */
function longestGap(at: number[], from: number, to: number): number {
  let previous = at.filter((t) => t < from).at(-1) ?? from;
  let gap = 0;
  for (const t of at.filter((t) => t >= from && t <= to)) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return Math.max(gap, to - previous);
}

export async function measureFailover(ratePerSecond = 200, windowMs = 10_000): Promise<FailoverResult> {
  const script = clusterScript();
  const skip = await whyNot(script);
  if (skip || !script) return { skipped: skip ?? 'no script' };
  try {
    await run(script, ['start'], { timeout: 150_000, env: clusterEnv });
  } catch (err) {
    await run(script, ['stop'], { timeout: 120_000, env: clusterEnv }).catch(() => {});
    const said = (err as { stderr?: string }).stderr?.trim().split('\n').at(-1);
    return { skipped: `the cluster did not start (${said || String(err)})` };
  }
  const receiver = await arrivals();
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-failover-'));
  const queue = `bench.${randomBytes(3).toString('hex')}.failover`;
  let runtime: Runtime | undefined;
  let connection: amqp.ChannelModel | undefined;
  let publishing = true;
  let publisher: Promise<void> = Promise.resolve();
  let stoppedNode: number | undefined;
  try {
    await writeFile(
      join(dir, 'r.yaml'),
      `routes:\n  bench-failover:\n    from: { queue: "${queue}" }\n    prefetch: 50\n` +
        `    to: { webhook: { url: "${receiver.url}" } }\n`,
    );
    const loaded = await loadConfig(dir);
    if (!loaded.ok) throw new Error('bench failover routes are invalid');
    // Failover warnings are the event measured, not news: errors only.
    runtime = new Runtime({
      amqpUrl: ports.map((_, i) => urlOf(i)).join(','),
      log: pino({ level: 'error' }),
    });
    runtime.start(loaded.config);
    while (!runtime.readiness().ready) await sleep(20);
    const nodeIndex = () => ports.indexOf(Number(runtime?.describe().node?.split(':')[1]));
    const from = nodeIndex();
    if (from < 0) throw new Error('Warren says no node in use');

    connection = await amqp.connect(urlOf((from + 1) % ports.length));
    connection.on('error', () => {});
    const channel = await connection.createConfirmChannel();
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((ratePerSecond * tickMs) / 1000));
    publisher = (async () => {
      while (publishing) {
        for (let i = 0; i < perTick; i++) channel.publish('', queue, Buffer.from('{}'), { persistent: true });
        await channel.waitForConfirms();
        await sleep(tickMs);
      }
    })();

    await sleep(1_000); // warm up
    const quietFrom = now();
    await sleep(windowMs);
    const stoppedAt = now();
    stoppedNode = from;
    await ctl(from, 'stop_app');
    let readyAgainMs = Number.NaN;
    while (now() - stoppedAt < windowMs) {
      const to = nodeIndex();
      if (Number.isNaN(readyAgainMs) && to >= 0 && to !== from && runtime.readiness().ready) {
        readyAgainMs = now() - stoppedAt;
      }
      await sleep(10);
    }
    const figure: FailoverFigure = {
      ratePerSecond,
      windowMs,
      quietGapMs: Math.round(longestGap(receiver.at, quietFrom, quietFrom + windowMs)),
      failoverGapMs: Math.round(longestGap(receiver.at, stoppedAt, stoppedAt + windowMs)),
      readyAgainMs: Math.round(readyAgainMs),
      from: `127.0.0.1:${ports[from]}`,
      to: runtime.describe().node ?? 'none',
    };
    await ctl(from, 'start_app');
    stoppedNode = undefined;
    return figure;
  } finally {
    publishing = false;
    await Promise.race([publisher.catch(() => {}), sleep(10_000)]);
    await runtime?.stop(5_000).catch(() => {});
    await connection?.close().catch(() => {});
    receiver.server.close();
    await rm(dir, { recursive: true, force: true });
    if (stoppedNode !== undefined) await ctl(stoppedNode, 'start_app').catch(() => {});
    // The script's stop kills by pid a node that does not stop: nothing is left running.
    await run(script, ['stop'], { timeout: 150_000, env: clusterEnv }).catch((err: unknown) => {
      console.error(`failover bench: stopping its cluster failed: ${String(err)}`);
    });
  }
}

export function printFailover(result: FailoverResult): void {
  if ('skipped' in result) {
    console.log(`\nfailover figure skipped: ${result.skipped}`);
    return;
  }
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  console.log(
    `\nfailover on a three-node cluster under a steady ${result.ratePerSecond} msg/s stream ` +
      `(gap = longest time between two deliveries, ${result.windowMs / 1000} s windows)`,
  );
  console.log('quiet gap   failover gap   ratio   stop_app → ready on another node');
  console.log(
    `${ms(result.quietGapMs).padStart(9)}   ${ms(result.failoverGapMs).padStart(12)}   ` +
      `${(result.failoverGapMs / result.quietGapMs).toFixed(1).padStart(5)}×  ` +
      `${ms(result.readyAgainMs).padStart(8)} (${result.from} → ${result.to})`,
  );
}

// Alone: `node --no-node-snapshot dist/bench/failover.js`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await measureFailover();
  printFailover(result);
  console.log(JSON.stringify({ bench: 'warren-failover', ...result }));
  process.exit(0);
}
