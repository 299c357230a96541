/**
 * The large-body figure (issue 9 §7): peak RSS of a Warren process draining N binary messages of
 * 8 MB through an envelope route (base64 inside a JSON envelope: the largest expansion), with the
 * default `maxInFlightBytes` and with a budget large enough to be off, in the same run. Each side
 * runs in a fresh child process, so neither inherits the other's heap; the receiver runs here.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { defaults } from '../src/config/types.js';
import { Runtime } from '../src/runtime/runtime.js';
import { planTopology } from '../src/topology/plan.js';

const MiB = 1024 ** 2;
/** How long the slow receiver waits for more requests before it answers those it holds. */
const receiverQuietMs = 3_000;
const childFlag = '--large-bodies-child';

export interface LargeBodySide {
  label: string;
  maxInFlightBytes: number;
  /** Highest RSS sampled (every 5 ms) while draining. */
  peakRss: number;
  /** RSS before the route started. */
  baselineRss: number;
  /** Once drained: RSS, and what V8 and Buffers still hold, before and after a full GC. */
  drained: { rss: number; heapUsed: number; external: number };
  afterGc: { rss: number; heapUsed: number; external: number };
  seconds: number;
  peakDeliveries: number;
  peakBytes: number;
  /** Most deliveries received at once (running or held). */
  peakHeld: number;
}

export interface LargeBodyFigure {
  messages: number;
  bytes: number;
  sides: LargeBodySide[];
  /** Peak RSS with the default budget / peak RSS with the budget off. */
  ratio: number;
}

interface ChildReport {
  peakRss: number;
  peakHeld: number;
  /** Most deliveries, and body bytes, in flight at once. */
  peakDeliveries: number;
  peakBytes: number;
  baselineRss: number;
  drained: LargeBodySide['drained'];
  afterGc: LargeBodySide['afterGc'];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function routeYaml(queue: string, url: string, budget: number): string {
  // Classic: it hands over 8 MB messages faster than a quorum queue, so the burst arrives at once.
  return `queues:
  ${queue}: { type: classic }
routes:
  bench-large:
    from: { queue: ${queue} }
    maxInFlightBytes: ${budget}
    to:
      webhook: { url: "${url}", body: envelope, timeout: 60s }
`;
}

/**
 * A receiver slower than the burst: it reads each body and answers nothing until `total` requests
 * are waiting, or none came for `quietMs` (then it answers all it holds). So without a budget the
 * whole burst is in flight at once, and with one, exactly what the budget lets through.
 */
async function slowReceiver(total: number, quietMs: number) {
  let received = 0;
  let answered = 0;
  let holding: Array<() => void> = [];
  let quiet: NodeJS.Timeout | undefined;
  const answerAll = () => {
    clearTimeout(quiet);
    for (const answer of holding) answer();
    answered += holding.length;
    holding = [];
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      holding.push(() => res.end('ok'));
      clearTimeout(quiet);
      if (holding.length >= total - answered) answerAll();
      else quiet = setTimeout(answerAll, quietMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/large`,
    received: () => received,
    close: () => {
      clearTimeout(quiet);
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function measureSide(
  amqpUrl: string,
  label: string,
  budget: number,
  messages: number,
  bytes: number,
): Promise<LargeBodySide> {
  const receiver = await slowReceiver(messages, receiverQuietMs);
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-large-'));
  const queue = `bench.${randomBytes(3).toString('hex')}.large.${label}`;
  const connection = await amqp.connect(amqpUrl);
  let queues: string[] = [queue];
  try {
    await writeFile(join(dir, 'bench.yaml'), routeYaml(queue, receiver.url, budget));
    const loaded = await loadConfig(dir, {});
    if (!loaded.ok) throw new Error(`bench route is invalid: ${JSON.stringify(loaded.issues)}`);
    const route = planTopology(loaded.config).routes[0]!;
    queues = route.queues.map((q) => q.name);
    // Fill before Warren starts: the whole burst is waiting when the consumer opens.
    const ch = await connection.createConfirmChannel();
    const source = route.queues.find((q) => q.role === 'source')!;
    await ch.assertQueue(queue, { durable: true, arguments: source.arguments });
    for (let i = 0; i < messages; i++) {
      ch.publish('', queue, randomBytes(bytes), {
        persistent: true,
        messageId: `large-${i}`,
        contentType: 'application/octet-stream',
      });
      await ch.waitForConfirms(); // one at a time: 8 MB frames, no need to crowd the broker
    }
    await ch.close();

    const child = fork(fileURLToPath(import.meta.url), [childFlag, JSON.stringify({ amqpUrl, dir })], {
      execArgv: ['--no-node-snapshot', '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const started = performance.now();
    const report = new Promise<ChildReport>((resolve, reject) => {
      child.once('message', (m) => resolve(m as ChildReport));
      child.once('exit', (code) => reject(new Error(`large-body child exited with ${code}`)));
    });
    const deadline = Date.now() + 180_000;
    while (receiver.received() < messages) {
      if (Date.now() > deadline) throw new Error(`large bodies: ${receiver.received()}/${messages} received`);
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    child.send('report');
    const r = await report;
    await new Promise((resolve) => child.once('exit', resolve));
    return { label, maxInFlightBytes: budget, seconds, ...r };
  } finally {
    const ch = await connection.createChannel();
    ch.on('error', () => {});
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    await connection.close().catch(() => {});
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measureLargeBodies(
  amqpUrl: string,
  messages = 20,
  bytes = 8_000_000,
): Promise<LargeBodyFigure> {
  // More than all the bodies at once: the budget never holds anything back.
  const off = 2 ** Math.ceil(Math.log2(messages * bytes * 2));
  const sides = [
    await measureSide(amqpUrl, 'off', off, messages, bytes),
    await measureSide(amqpUrl, 'default', defaults.maxInFlightBytes, messages, bytes),
  ];
  const peak = (label: string) => sides.find((s) => s.label === label)!.peakRss;
  return { messages, bytes, sides, ratio: peak('default') / peak('off') };
}

export function printLargeBodies(figure: LargeBodyFigure): void {
  const mb = (n: number) => `${Math.round(n / MiB)} MiB`.padStart(9);
  console.log(
    `\nlarge bodies: ${figure.messages} × ${figure.bytes / 1e6} MB binary through an envelope route, ` +
      `classic queue, a receiver slower than the burst; RSS of a fresh Warren process`,
  );
  console.log(
    'budget              baseline  peak RSS  drained RSS (heap, buffers)    after GC RSS (heap, buffers)',
  );
  for (const s of figure.sides) {
    const budget = `${s.label} (${mb(s.maxInFlightBytes).trim()})`.padEnd(20);
    const state = (m: LargeBodySide['drained']) =>
      `${mb(m.rss)} (${mb(m.heapUsed).trim()}, ${mb(m.external).trim()})`.padEnd(31);
    console.log(`${budget}${mb(s.baselineRss)} ${mb(s.peakRss)} ${state(s.drained)}${state(s.afterGc)}`);
    console.log(
      `${''.padEnd(20)}at most ${s.peakHeld} received, ${s.peakDeliveries} started (${mb(s.peakBytes).trim()} of bodies)`,
    );
  }
  console.log(`peak RSS, default budget / budget off: ${figure.ratio.toFixed(2)}`);
}

/** The child: Warren alone in its process, sampling its own RSS until the parent asks. */
async function child(): Promise<void> {
  const { amqpUrl, dir } = JSON.parse(process.argv[3]!) as { amqpUrl: string; dir: string };
  const loaded = await loadConfig(dir, {});
  if (!loaded.ok) throw new Error('bench route is invalid');
  const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
  const memory = () => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
  };
  const runtime = new Runtime({ amqpUrl, log });
  const baselineRss = process.memoryUsage.rss();
  let peakRss = baselineRss;
  let peakDeliveries = 0;
  let peakBytes = 0;
  let peakHeld = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const route = runtime.describe().routes[0];
    if (route === undefined) return;
    peakDeliveries = Math.max(peakDeliveries, route.byteBudget.deliveries);
    peakBytes = Math.max(peakBytes, route.byteBudget.bytes);
    peakHeld = Math.max(peakHeld, route.inFlight);
  }, 5);
  runtime.start(loaded.config);
  process.once('message', async () => {
    // The receiver has every request; the acks follow.
    while (runtime.describe().routes[0]?.inFlight !== 0) await sleep(10);
    clearInterval(sampler);
    await sleep(200);
    const drained = memory();
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    await sleep(100);
    gc?.();
    const afterGc = memory();
    await runtime.stop(5_000);
    const report: ChildReport = {
      peakRss,
      peakDeliveries,
      peakBytes,
      peakHeld,
      baselineRss,
      drained,
      afterGc,
    };
    process.send!(report, () => process.exit(0));
  });
}

if (process.argv[2] === childFlag) {
  child().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
