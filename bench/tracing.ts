/**
 * The tracing figure (issue 12 §3): the webhook route of the main figure drained with tracing off
 * and with tracing on — every span exported over OTLP/HTTP to a local sink in a process of its own,
 * as a collector would take them — each beside the hand-written floor in the same round, in
 * rotating order. Targets: on costs under 15 % (on / off ≥ 0.85, median of the rounds); off
 * changes nothing (off / floor within the spread of the main webhook figure).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { startTracing, stopTracing } from '../src/telemetry/tracing.js';
import { BenchBroker, messageBody } from './broker.js';
import { type BenchOptions, parseOptions } from './options.js';
import { Receiver } from './receiver.js';
import {
  type BenchContext,
  type DrainResult,
  drainWithFloor,
  drainWithWarren,
  warrenQueueArgs,
} from './sides.js';

type TracingSide = 'off' | 'on' | 'floor';

/**
 * The OTLP/HTTP sink: answers every export at once and counts the spans in it (protobuf: the
 * spans of each scope of each resource; JSON: the `"spanId"` keys).
 */
const sinkSource = `
const { createServer } = require('node:http');
let spans = 0;
function varint(b, at) {
  let v = 0, shift = 0, c;
  do { c = b[at.i++]; v += (c & 0x7f) * 2 ** shift; shift += 7; } while (c & 0x80);
  return v;
}
/** Calls each(field, start, end) for every length-delimited field of b[start, end). */
function fields(b, start, end, each) {
  const at = { i: start };
  while (at.i < end) {
    const tag = varint(b, at), wire = tag & 7;
    if (wire === 0) varint(b, at);
    else if (wire === 1) at.i += 8;
    else if (wire === 5) at.i += 4;
    else { const n = varint(b, at); each(tag >>> 3, at.i, at.i + n); at.i += n; }
  }
}
function countProtobuf(b) {
  fields(b, 0, b.length, (f, s, e) => f === 1 && fields(b, s, e, (f, s, e) =>
    f === 2 && fields(b, s, e, (f) => { if (f === 2) spans++; })));
}
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (String(req.headers['content-type']).includes('protobuf')) countProtobuf(body);
    else {
      const text = body.toString('utf8');
      for (let at = text.indexOf('"spanId"'); at !== -1; at = text.indexOf('"spanId"', at + 8)) spans++;
    }
    res.writeHead(200, { 'content-type': req.headers['content-type'] });
    res.end(String(req.headers['content-type']).includes('protobuf') ? '' : '{}');
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send({ spans });
  else server.close(() => process.exit(0));
});
`;

/** In a process of its own, as a collector is: its CPU is not counted as Warren's. */
class SpanSink {
  readonly #child: ChildProcess;
  readonly port: number;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }

  static async start(): Promise<SpanSink> {
    const child = spawn(process.execPath, ['-e', sinkSource], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', resolve));
    return new SpanSink(child, port);
  }

  spans(): Promise<number> {
    const answer = new Promise<{ spans: number }>((resolve) => this.#child.once('message', resolve));
    this.#child.send('count');
    return answer.then((m) => m.spans);
  }

  async close(): Promise<void> {
    this.#child.send('close');
    await new Promise((resolve) => this.#child.once('exit', resolve));
  }
}

export interface TracingRound {
  order: TracingSide[];
  rates: Record<TracingSide, number>;
  cpu: Record<TracingSide, number>;
  /** The main thread's CPU per message: Warren's event loop, without the export thread. */
  mainCpu: Record<TracingSide, number>;
  /** Spans the sink received per message of the traced drain (2: the delivery and its request). */
  spansPerMessage: number;
}

export interface TracingFigure {
  messages: number;
  rounds: TracingRound[];
  /** Medians of the rounds' ratios. */
  onOverOff: number;
  offOverFloor: number;
  onOverFloor: number;
  /** Median of the rounds' CPU per message, on / off: steadier than the rates on a shared machine. */
  cpuOnOverOff: number;
  /** The same for the main thread alone: what tracing costs Warren's event loop. */
  mainCpuOnOverOff: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const quiet = pino({ level: 'warn' }, pino.destination(2));

/** Tracing on for one drain: the SDK reads its endpoint and batch settings from process.env. */
async function drainTraced(ctx: BenchContext, queue: string, sink: SpanSink): Promise<[DrainResult, number]> {
  const before = await sink.spans();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${sink.port}`;
  process.env.OTEL_SERVICE_NAME = 'warren-bench';
  if (!(await startTracing(process.env, quiet))) throw new Error('tracing did not start');
  try {
    const result = await drainWithWarren(ctx, queue);
    await stopTracing(60_000);
    return [result, ((await sink.spans()) - before) / ctx.options.messages];
  } finally {
    await stopTracing();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_SERVICE_NAME;
  }
}

export async function measureTracing(options: BenchOptions): Promise<TracingFigure> {
  const runId = randomBytes(3).toString('hex');
  const broker = await BenchBroker.connect(options.amqpUrl);
  const receiver = await Receiver.start();
  const sink = await SpanSink.start();
  const ctx: BenchContext = { options, broker, receiver, body: messageBody() };
  const rounds: TracingRound[] = [];
  try {
    const floorArgs = await warrenQueueArgs(ctx, `bench.${runId}.trace-floor`);
    const sides: TracingSide[] = ['off', 'on', 'floor'];
    for (let i = 1; i <= options.rounds; i++) {
      // Each side goes first once in three rounds: none always runs cold.
      const order = [...sides.slice((i - 1) % 3), ...sides.slice(0, (i - 1) % 3)];
      const round: TracingRound = {
        order,
        rates: { off: 0, on: 0, floor: 0 },
        cpu: { off: 0, on: 0, floor: 0 },
        mainCpu: { off: 0, on: 0, floor: 0 },
        spansPerMessage: 0,
      };
      for (const side of order) {
        const queue = `bench.${runId}.trace-${side}.r${i}`;
        let result: DrainResult;
        if (side === 'floor')
          result = await drainWithFloor(ctx, queue, {
            ...floorArgs,
            'x-dead-letter-routing-key': `${queue}.dlq`,
          });
        else if (side === 'off') result = await drainWithWarren(ctx, queue);
        else [result, round.spansPerMessage] = await drainTraced(ctx, queue, sink);
        round.rates[side] = result.rate;
        round.cpu[side] = result.cpuMicrosPerMessage;
        round.mainCpu[side] = result.mainCpuMicrosPerMessage;
      }
      rounds.push(round);
    }
  } finally {
    await broker.cleanup().catch(() => {});
    await receiver.close();
    await sink.close();
  }
  return {
    messages: options.messages,
    rounds,
    onOverOff: median(rounds.map((r) => r.rates.on / r.rates.off)),
    offOverFloor: median(rounds.map((r) => r.rates.off / r.rates.floor)),
    onOverFloor: median(rounds.map((r) => r.rates.on / r.rates.floor)),
    cpuOnOverOff: median(rounds.map((r) => r.cpu.on / r.cpu.off)),
    mainCpuOnOverOff: median(rounds.map((r) => r.mainCpu.on / r.mainCpu.off)),
  };
}

export function printTracing(f: TracingFigure): void {
  const rate = (x: number) => Math.round(x).toLocaleString('en-US').padStart(7);
  console.log(
    `\ntracing (webhook route, OTLP/HTTP to a local sink), ${f.messages.toLocaleString('en-US')} messages a drain`,
  );
  console.log(
    'round  off msg/s  on msg/s  floor msg/s  on/off  off/floor  on/floor  µs CPU/msg off/on/floor  main thread off/on  spans/msg',
  );
  f.rounds.forEach((r, i) => {
    const { off, on, floor } = r.rates;
    console.log(
      `${String(i + 1).padEnd(6)} ${rate(off)}   ${rate(on)}   ${rate(floor)}      ${(on / off).toFixed(3)}   ${(off / floor).toFixed(3)}     ${(on / floor).toFixed(3)}    ` +
        `${r.cpu.off.toFixed(0)} / ${r.cpu.on.toFixed(0)} / ${r.cpu.floor.toFixed(0)}            ` +
        `${r.mainCpu.off.toFixed(0)} / ${r.mainCpu.on.toFixed(0)}            ${r.spansPerMessage.toFixed(2)}`,
    );
  });
  const met = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
  console.log(
    `medians: on/off ${f.onOverOff.toFixed(3)}, off/floor ${f.offOverFloor.toFixed(3)}, on/floor ${f.onOverFloor.toFixed(3)}`,
  );
  console.log(
    `CPU per message, on / off (median): process ${f.cpuOnOverOff.toFixed(3)}, main thread ${f.mainCpuOnOverOff.toFixed(3)}`,
  );
  console.log(
    `target: tracing on costs under 15 % (on/off ≥ 0.85): ${f.onOverOff.toFixed(3)} → ${met(f.onOverOff >= 0.85)}`,
  );
}

// Alone: `node --no-node-snapshot dist/bench/tracing.js [--messages N] [--rounds R]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figure = await measureTracing(parseOptions(process.argv.slice(2), process.env));
  printTracing(figure);
  console.log(JSON.stringify({ bench: 'warren-tracing', ...figure }));
  process.exit(0);
}
