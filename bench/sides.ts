import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ConsumeMessage } from 'amqplib';
import pino from 'pino';
import { Pool } from 'undici';
import { loadConfig } from '../src/config/load.js';
import { Runtime } from '../src/runtime/runtime.js';
import { planTopology } from '../src/topology/plan.js';
import type { BenchBroker } from './broker.js';
import type { BenchOptions, Side } from './options.js';
import type { Receiver } from './receiver.js';

export interface DrainResult {
  side: Side;
  queue: string;
  /** From the receiver's first request until the queue was seen empty after the N-th. */
  seconds: number;
  rate: number;
  /** Process CPU time (user + system, all threads, the receiver's included) per message over
   * the drained window: less sensitive than the rate to other load on the machine. */
  cpuMicrosPerMessage: number;
  /** The main thread's CPU per message over the same window (NaN off Linux): Warren's event loop. */
  mainCpuMicrosPerMessage: number;
  /** From starting the consumer (connect, declare, consume) to the first request. */
  startupMs: number;
  fillRate: number;
  /** Ready messages left after the consumer stopped (0 unless something was not acked). */
  leftover: number;
}

export interface BenchContext {
  options: BenchOptions;
  broker: BenchBroker;
  receiver: Receiver;
  body: Buffer;
  /** The route's `schema:` and the schemas directory it names a file in (bench/contracts.ts). */
  contract?: { schema: string; schemasDir: string };
}

/** Long enough for a very slow run, short enough that a stuck one ends the bench. */
function drainTimeoutMs(n: number): number {
  return 60_000 + n * 5;
}

const ns = (a: bigint, b: bigint): number => Number(b - a) / 1e9;

/**
 * The main thread's CPU microseconds so far (Linux: its /proc task entry, in clock ticks of 10 ms),
 * or NaN where there is none: Warren's event loop alone, without the receiver's or any other thread.
 */
function mainThreadMicros(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/** Process CPU microseconds since `from`, once `from` was set by the receiver's first request. */
class CpuWindow {
  #from: NodeJS.CpuUsage | undefined;
  #mainFrom = 0;
  start = (): void => {
    this.#from = process.cpuUsage();
    this.#mainFrom = mainThreadMicros();
  };
  micros(): number {
    const d = process.cpuUsage(this.#from);
    return d.user + d.system;
  }
  /** The main thread's share of `micros`. */
  mainMicros(): number {
    return mainThreadMicros() - this.#mainFrom;
  }
}

/** Warren's log as it ships, but at warn: per-delivery debug lines are skipped. Stderr keeps the
 * table on stdout clean. */
const warrenLog = pino(
  { level: 'warn', base: { service: 'warren' }, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ fd: 2, sync: true }),
);

function routeYaml(queue: string, ctx: BenchContext): string {
  const { prefetch, queueType } = ctx.options;
  const queues = queueType === 'classic' ? `queues:\n  ${queue}: { type: classic }\n` : '';
  return `${queues}routes:
  bench-webhook:
    from: { queue: ${queue} }
    prefetch: ${prefetch}${ctx.contract ? `\n    schema: ${ctx.contract.schema}` : ''}
    to:
      webhook: { url: "${ctx.receiver.url('/warren')}" }
`;
}

/** Source-queue arguments exactly as Warren declares them for a route of this queue type. */
export async function warrenQueueArgs(ctx: BenchContext, queue: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-'));
  try {
    await writeFile(join(dir, 'bench.yaml'), routeYaml(queue, ctx));
    const loaded = await loadConfig(dir, {});
    if (!loaded.ok) throw new Error(`bench route is invalid: ${JSON.stringify(loaded.issues)}`);
    const route = planTopology(loaded.config).routes[0]!;
    return route.queues.find((q) => q.role === 'source')!.arguments;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function prepare(ctx: BenchContext, queue: string, args: Record<string, unknown>): Promise<number> {
  const { broker, options, body } = ctx;
  await broker.declare(queue, args);
  const fillRate = await broker.fill(queue, options.messages, body, options.window, queue);
  // Let the broker settle (quorum log flushes) before the clock starts.
  await new Promise((r) => setTimeout(r, 500));
  return fillRate;
}

/** Drains a filled queue through Warren in-process: a temp routes dir, a Runtime, a webhook route. */
export async function drainWithWarren(ctx: BenchContext, queue: string): Promise<DrainResult> {
  const { options, broker, receiver } = ctx;
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-'));
  let runtime: Runtime | undefined;
  try {
    await writeFile(join(dir, 'bench.yaml'), routeYaml(queue, ctx));
    const schemas = ctx.contract ? { schemasDir: ctx.contract.schemasDir } : {};
    const loaded = await loadConfig(dir, {}, './plugins', schemas);
    if (!loaded.ok) throw new Error(`bench route is invalid: ${JSON.stringify(loaded.issues)}`);
    const route = planTopology(loaded.config).routes[0]!;
    broker.track(...route.queues.map((q) => q.name));
    const fillRate = await prepare(ctx, queue, route.queues.find((q) => q.role === 'source')!.arguments);

    const cpu = new CpuWindow();
    const done = receiver.expect(options.messages, drainTimeoutMs(options.messages), cpu.start);
    const startNs = process.hrtime.bigint();
    runtime = new Runtime({ amqpUrl: options.amqpUrl, log: warrenLog });
    runtime.start(loaded.config);
    const t = await done;
    const live = runtime;
    const endNs = await broker.waitEmpty(queue, () => live.describe().routes[0]?.inFlight === 0, 30_000);
    const cpuMicros = cpu.micros();
    const mainCpuMicros = cpu.mainMicros();
    await runtime.stop(10_000);
    runtime = undefined;
    const seconds = ns(t.firstNs, endNs);
    return {
      side: 'warren',
      queue,
      seconds,
      rate: options.messages / seconds,
      cpuMicrosPerMessage: cpuMicros / options.messages,
      mainCpuMicrosPerMessage: mainCpuMicros / options.messages,
      startupMs: ns(startNs, t.firstNs) * 1000,
      fillRate,
      leftover: await broker.depth(queue),
    };
  } finally {
    await runtime?.stop(1_000).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** The floor: amqplib prefetch + consume, an undici Pool POST per message, ack on 2xx. */
export async function drainWithFloor(
  ctx: BenchContext,
  queue: string,
  args: Record<string, unknown>,
): Promise<DrainResult> {
  const { options, broker, receiver } = ctx;
  const fillRate = await prepare(ctx, queue, args);
  const cpu = new CpuWindow();
  const done = receiver.expect(options.messages, drainTimeoutMs(options.messages), cpu.start);
  const startNs = process.hrtime.bigint();
  const connection = await amqp.connect(options.amqpUrl);
  const pool = new Pool(`http://127.0.0.1:${receiver.port}`, { keepAliveTimeout: 30_000 });
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(options.prefetch);
    let inFlight = 0;
    const settle = (msg: ConsumeMessage, ok: boolean): void => {
      inFlight--;
      if (ok) channel.ack(msg);
      else channel.nack(msg, false, true);
    };
    const onMessage = (msg: ConsumeMessage | null): void => {
      if (!msg) return;
      inFlight++;
      pool
        .request({
          path: '/floor',
          method: 'POST',
          headers: { 'content-type': msg.properties.contentType ?? 'application/octet-stream' },
          body: msg.content,
        })
        .then(async (res) => {
          await res.body.dump();
          settle(msg, res.statusCode >= 200 && res.statusCode < 300);
        })
        .catch(() => settle(msg, false));
    };
    const { consumerTag } = await channel.consume(queue, onMessage, { noAck: false });
    const t = await done;
    const endNs = await broker.waitEmpty(queue, () => inFlight === 0, 30_000);
    const cpuMicros = cpu.micros();
    const mainCpuMicros = cpu.mainMicros();
    await channel.cancel(consumerTag);
    await channel.close();
    const seconds = ns(t.firstNs, endNs);
    return {
      side: 'floor',
      queue,
      seconds,
      rate: options.messages / seconds,
      cpuMicrosPerMessage: cpuMicros / options.messages,
      mainCpuMicrosPerMessage: mainCpuMicros / options.messages,
      startupMs: ns(startNs, t.firstNs) * 1000,
      fillRate,
      leftover: await broker.depth(queue),
    };
  } finally {
    await pool.close().catch(() => {});
    await connection.close().catch(() => {});
  }
}
