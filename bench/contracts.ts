/**
 * The message-contract figure (issue 13): the bench's webhook route draining realistic orders
 * (schemas/order.v1.examples.json: 20-odd fields, a nested array of lines, money by $ref) with
 * `schema: order.v1.json`, against the very same route without it, in alternating rounds of one
 * run. Target: with the check ≥ 0.9 × without.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BenchBroker } from './broker.js';
import type { BenchOptions } from './options.js';
import { Receiver } from './receiver.js';
import { type BenchContext, type DrainResult, drainWithWarren } from './sides.js';

export interface ContractFigures {
  messages: number;
  bodyBytes: number;
  /** msg/s per round, in the order run. */
  plain: number[];
  checked: number[];
  /** CPU µs per message, best (lowest) of the rounds. */
  plainCpu: number;
  checkedCpu: number;
  /** Best checked rate / best plain rate, and the same for the medians. */
  ratio: number;
  medianRatio: number;
}

/** `schemas/` of the repository, from `dist/bench/` (built) or `bench/` (sources). */
function schemasDir(): string {
  const up = import.meta.url.includes('/dist/bench/') ? '../../schemas/' : '../schemas/';
  return fileURLToPath(new URL(up, import.meta.url));
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export async function measureContracts(options: BenchOptions, runId: string): Promise<ContractFigures> {
  const dir = schemasDir();
  const examples = JSON.parse(await readFile(`${dir}order.v1.examples.json`, 'utf8')) as unknown[];
  // The fuller example: every optional field, two lines, three amounts checked through the $ref.
  const body = Buffer.from(JSON.stringify(examples[0]));
  const messages = Math.min(options.messages, 20_000);
  const broker = await BenchBroker.connect(options.amqpUrl);
  const receiver = await Receiver.start();
  const base: BenchContext = { options: { ...options, messages }, broker, receiver, body };
  const checkedCtx: BenchContext = { ...base, contract: { schema: 'order.v1.json', schemasDir: dir } };
  const plain: DrainResult[] = [];
  const checked: DrainResult[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Alternating which runs first, so neither side always runs on a cold broker.
      const order = round % 2 === 1 ? (['plain', 'checked'] as const) : (['checked', 'plain'] as const);
      for (const side of order) {
        const queue = `bench.${runId}.contract.${side}.r${round}`;
        const result = await drainWithWarren(side === 'plain' ? base : checkedCtx, queue);
        (side === 'plain' ? plain : checked).push(result);
        console.log(
          `  contracts round ${round} ${side.padEnd(7)} ${Math.round(result.rate).toLocaleString('en-US').padStart(7)} msg/s ` +
            `(${result.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg)` +
            (result.leftover ? ` — ${result.leftover} messages left in ${queue}!` : ''),
        );
      }
    }
  } finally {
    await broker.cleanup().catch(() => []);
    await receiver.close();
  }
  const rates = (rs: DrainResult[]) => rs.map((r) => r.rate);
  return {
    messages,
    bodyBytes: body.length,
    plain: rates(plain),
    checked: rates(checked),
    plainCpu: Math.min(...plain.map((r) => r.cpuMicrosPerMessage)),
    checkedCpu: Math.min(...checked.map((r) => r.cpuMicrosPerMessage)),
    ratio: Math.max(...rates(checked)) / Math.max(...rates(plain)),
    medianRatio: median(rates(checked)) / median(rates(plain)),
  };
}

export function printContracts(f: ContractFigures, target: number): void {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `\nmessage contracts: ${f.messages.toLocaleString('en-US')} × ${f.bodyBytes} B orders, webhook route, ` +
      `schema: order.v1.json vs none (same run)\n` +
      `  without schema  best ${fmt(Math.max(...f.plain))} msg/s, median ${fmt(median(f.plain))}, ${f.plainCpu.toFixed(1)} µs CPU/msg\n` +
      `  with schema     best ${fmt(Math.max(...f.checked))} msg/s, median ${fmt(median(f.checked))}, ${f.checkedCpu.toFixed(1)} µs CPU/msg\n` +
      `  ratio           best ${f.ratio.toFixed(2)}, median ${f.medianRatio.toFixed(2)} ` +
      `(target ≥ ${target}: ${f.ratio >= target ? 'met' : 'NOT met'})`,
  );
}
