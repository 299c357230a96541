/**
 * The reload figure: under a steady stream, how long from writing a route file to the new handler
 * serving, and the worst delivery latency (publish → webhook request) during the reload, beside the
 * same latency over an equal window with no reload. Warren runs with its shipped watch settings.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { Reloader } from '../src/runtime/reloader.js';
import { Runtime } from '../src/runtime/runtime.js';

interface Receipt {
  at: number;
  latencyMs: number;
}

/** A webhook receiver that notes when each message arrives and how long after its publish. */
async function latencyReceiver(): Promise<{ url: string; receipts: Receipt[]; server: Server }> {
  const receipts: Receipt[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sentAt = Number(JSON.parse(Buffer.concat(chunks).toString()).sentAt);
      const at = performance.timeOrigin + performance.now();
      receipts.push({ at, latencyMs: at - sentAt });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, receipts, server };
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function worst(receipts: Receipt[], from: number, to: number): { max: number; p99: number; count: number } {
  const window = receipts
    .filter((r) => r.at >= from && r.at < to)
    .map((r) => r.latencyMs)
    .sort((a, b) => a - b);
  return {
    max: window.at(-1) ?? Number.NaN,
    p99: window[Math.floor(window.length * 0.99)] ?? Number.NaN,
    count: window.length,
  };
}

export interface ReloadFigure {
  change: 'handler' | 'source';
  writeToServingMs: number;
  reloadMs: number;
  during: { max: number; p99: number; count: number };
  quiet: { max: number; p99: number; count: number };
}

/** Runs both reload kinds (a webhook URL change, a prefetch change) at `ratePerSecond`. */
export async function measureReload(
  amqpUrl: string,
  ratePerSecond = 500,
  windowMs = 3_000,
): Promise<ReloadFigure[]> {
  const id = randomBytes(3).toString('hex');
  const exchange = `bench.${id}.reload`;
  const queue = `bench.${id}.reload.q`;
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-reload-'));
  const a = await latencyReceiver();
  const b = await latencyReceiver();
  const route = (url: string, prefetch: number) =>
    `exchanges: { "${exchange}": { type: direct } }\nroutes:\n  bench-reload:\n` +
    `    from: { queue: "${queue}", bind: [{ exchange: "${exchange}", key: k }] }\n` +
    `    prefetch: ${prefetch}\n    to: { webhook: { url: "${url}" } }\n`;
  await writeFile(join(dir, 'r.yaml'), route(a.url, 50));
  const log = pino({ level: 'warn' }, pino.destination(2));
  const loaded = await loadConfig(dir);
  if (!loaded.ok) throw new Error('bench reload routes are invalid');
  const runtime = new Runtime({ amqpUrl, log });
  const reloader = new Reloader(runtime, { routesDir: dir, pluginsDir: join(dir, 'none'), log });
  await reloader.prime();
  runtime.start(loaded.config);
  reloader.watch();

  while (!runtime.readiness().ready) await sleep(20);
  const connection = await amqp.connect(amqpUrl);
  connection.on('error', () => {});
  const channel = await connection.createConfirmChannel();
  let publishing = true;
  const publisher = (async () => {
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((ratePerSecond * tickMs) / 1000));
    while (publishing) {
      for (let i = 0; i < perTick; i++) {
        channel.publish(exchange, 'k', Buffer.from(JSON.stringify({ sentAt: now() })), { persistent: true });
      }
      await channel.waitForConfirms();
      await sleep(tickMs);
    }
  })();

  const figures: ReloadFigure[] = [];
  try {
    await sleep(1_000); // warm up
    // 1. Handler change: the webhook URL moves from receiver a to receiver b.
    const quietFrom = now();
    await sleep(windowMs);
    const written = now();
    await writeFile(join(dir, 'r.yaml'), route(b.url, 50));
    while (b.receipts.length === 0) await sleep(1);
    const serving = b.receipts[0]!.at;
    await sleep(windowMs);
    figures.push({
      change: 'handler',
      writeToServingMs: serving - written,
      reloadMs: runtime.lastReload?.durationMs ?? Number.NaN,
      during: worst([...a.receipts, ...b.receipts], written, written + windowMs),
      quiet: worst(a.receipts, quietFrom, quietFrom + windowMs),
    });
    // 2. Source change: prefetch 50 → 100 starts a new consumer and drains the old one.
    const quiet2From = now();
    await sleep(windowMs);
    const before = runtime.describe().routes[0]?.fingerprint;
    const written2 = now();
    await writeFile(join(dir, 'r.yaml'), route(b.url, 100));
    while (runtime.describe().routes[0]?.fingerprint === before) await sleep(1);
    // Both consumers deliver to b: the first delivery after the new version took over counts.
    const appliedAt = now();
    let serving2: number | undefined;
    while (serving2 === undefined) {
      await sleep(1);
      serving2 = b.receipts.find((r) => r.at >= appliedAt)?.at;
    }
    await sleep(windowMs);
    figures.push({
      change: 'source',
      writeToServingMs: serving2 - written2,
      reloadMs: runtime.lastReload?.durationMs ?? Number.NaN,
      during: worst(b.receipts, written2, written2 + windowMs),
      quiet: worst(b.receipts, quiet2From, quiet2From + windowMs),
    });
  } finally {
    publishing = false;
    await publisher.catch(() => {});
    reloader.close();
    await runtime.stop(5_000);
    const cleanup = await connection.createChannel();
    for (const q of [
      queue,
      `${queue}.dlq`,
      ...[1, 10, 60, 300].map((s) => `warren.retry.${queue}.${s < 60 ? `${s}s` : `${s / 60}m`}`),
    ]) {
      await cleanup.deleteQueue(q).catch(() => {});
    }
    await cleanup.deleteExchange(exchange).catch(() => {});
    await connection.close().catch(() => {});
    a.server.close();
    b.server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

export function printReload(figures: ReloadFigure[]): void {
  const ms = (n: number) => `${n.toFixed(0)} ms`.padStart(8);
  console.log('\nreload under a steady 500 msg/s stream (latency = publish → webhook request)');
  console.log('change    write→serving  reload   worst during  p99 during   worst quiet  p99 quiet');
  for (const f of figures) {
    console.log(
      `${f.change.padEnd(9)} ${ms(f.writeToServingMs).padStart(13)} ${ms(f.reloadMs)} ${ms(f.during.max).padStart(13)} ${ms(f.during.p99).padStart(11)} ${ms(f.quiet.max).padStart(13)} ${ms(f.quiet.p99).padStart(10)}`,
    );
  }
  console.log(
    '(write→serving includes the 300 ms watch debounce; quiet = the same window length with no reload)',
  );
}
