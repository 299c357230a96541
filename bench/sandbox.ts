/**
 * The sandbox figure: calls per second of a small sync transform through `PluginSandbox.run`
 * (copy the message into the isolate, run, copy the result out) and, in the same run, of the same
 * transform called in the host the same way (awaited, same message): the baseline. Their ratio is
 * what the isolate costs per call, independent of how fast the machine is today. No broker needed:
 * `node --no-node-snapshot dist/bench/sandbox.js` runs this piece alone.
 */
import { pathToFileURL } from 'node:url';
import { PluginSandbox } from '../src/sandbox/isolate.js';
import type { PluginContextData, PluginMessage } from '../src/sandbox/types.js';

const source =
  'export default (msg) => ({ body: { id: msg.body.id, count: msg.body.lines.length }, routingKey: "r" })';

/** The same transform, in the host. */
function transform(msg: PluginMessage) {
  const body = msg.body as { id: string; lines: unknown[] };
  return { body: { id: body.id, count: body.lines.length }, routingKey: 'r' };
}

const ctx: PluginContextData = { route: 'bench', attempt: 1, now: '2026-01-02T03:04:05.000Z' };

function message(): PluginMessage {
  return {
    body: { id: 'o-1', lines: [{ sku: 'a' }, { sku: 'b' }] },
    contentType: 'application/json',
    headers: { 'x-tenant': 'acme' },
    properties: { messageId: 'm-1' },
    exchange: 'orders',
    routingKey: 'order.created',
    redelivered: false,
  };
}

export interface SandboxFigure {
  /** How long each side ran per round (ms). */
  windowMs: number;
  rounds: Array<{ sandbox: number; host: number }>;
  /** Median over the rounds of sandbox calls/s ÷ host calls/s. */
  ratio: number;
}

/** Calls for `ms` of wall time (checked every 100 calls): the fast host side needs as long a window as the sandbox. */
async function callsPerSecond(ms: number, call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let calls = 0;
  let elapsed = 0;
  do {
    for (let i = 0; i < 100; i++) await call();
    calls += 100;
    elapsed = performance.now() - started;
  } while (elapsed < ms);
  return calls / (elapsed / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function measureSandbox(windowMs = 1_000, rounds = 3): Promise<SandboxFigure> {
  const sandbox = await PluginSandbox.load('plugins/bench.js', source, {
    timeoutMs: 50,
    memoryLimitMb: 32,
    log: () => {},
  });
  try {
    const inSandbox = () => sandbox.run(message(), ctx);
    const inHost = async () => transform(message());
    // Warm both paths up (JIT, the isolate's first compile) before anything is timed.
    await callsPerSecond(200, inSandbox);
    await callsPerSecond(200, inHost);
    const results: SandboxFigure['rounds'] = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate which side runs first, so neither always runs on a cooler machine.
      const first = round % 2 === 1 ? 'sandbox' : 'host';
      const result = { sandbox: 0, host: 0 };
      for (const side of first === 'sandbox'
        ? (['sandbox', 'host'] as const)
        : (['host', 'sandbox'] as const)) {
        result[side] = await callsPerSecond(windowMs, side === 'sandbox' ? inSandbox : inHost);
      }
      results.push(result);
    }
    return { windowMs, rounds: results, ratio: median(results.map((r) => r.sandbox / r.host)) };
  } finally {
    sandbox.dispose();
  }
}

export function printSandbox(figure: SandboxFigure): void {
  const rate = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
  console.log(`\nplugin sandbox: sync calls of a small transform, each side ${figure.windowMs} ms per round`);
  console.log('round   sandbox calls/s   host calls/s   sandbox/host');
  figure.rounds.forEach((r, i) => {
    console.log(
      `${String(i + 1).padEnd(7)} ${rate(r.sandbox)}        ${rate(r.host)}     ${(r.sandbox / r.host).toFixed(4)}`,
    );
  });
  console.log(`median of the rounds' ratios                       ${figure.ratio.toFixed(4)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figure = await measureSandbox();
  printSandbox(figure);
  console.log(JSON.stringify({ bench: 'warren-sandbox-calls', ...figure }));
}
