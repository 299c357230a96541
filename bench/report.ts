import type { BenchOptions, Side } from './options.js';
import type { DrainResult } from './sides.js';

export interface Round {
  round: number;
  order: Side[];
  results: Partial<Record<Side, DrainResult>>;
}

interface Stats {
  best?: number;
  median?: number;
}

export interface Summary {
  /** msg/s: best is the highest. */
  rate: Record<Side, Stats>;
  /** CPU µs per message: best is the lowest. */
  cpu: Record<Side, Stats>;
  /** Warren rate / floor rate. */
  ratio: Stats;
  met?: boolean;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const div = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined ? a / b : undefined;
const fmtInt = (n: number | undefined): string =>
  n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
const fmtFixed = (n: number | undefined, digits: number): string =>
  n === undefined ? '—' : n.toFixed(digits);

export function summarize(rounds: Round[], options: BenchOptions): Summary {
  const values = (side: Side, pick: (r: DrainResult) => number): number[] =>
    rounds.flatMap((r) => (r.results[side] ? [pick(r.results[side])] : []));
  const stats = (side: Side, pick: (r: DrainResult) => number, best: (...n: number[]) => number): Stats => {
    const all = values(side, pick);
    return { best: all.length ? best(...all) : undefined, median: median(all) };
  };
  const rate = {
    warren: stats('warren', (r) => r.rate, Math.max),
    floor: stats('floor', (r) => r.rate, Math.max),
  };
  const cpu = {
    warren: stats('warren', (r) => r.cpuMicrosPerMessage, Math.min),
    floor: stats('floor', (r) => r.cpuMicrosPerMessage, Math.min),
  };
  const ratio = {
    best: div(rate.warren.best, rate.floor.best),
    median: div(rate.warren.median, rate.floor.median),
  };
  return { rate, cpu, ratio, ...(ratio.best !== undefined ? { met: ratio.best >= options.target } : {}) };
}

export function printTable(rounds: Round[], summary: Summary, options: BenchOptions): void {
  const widths = [8, 15, 14, 13, 14, 12, 11];
  const row = (cells: string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('');
  const line = (label: string, s: (x: Stats) => number | undefined): string =>
    row([
      label,
      '',
      fmtInt(s(summary.rate.warren)),
      fmtInt(s(summary.rate.floor)),
      fmtFixed(s(summary.ratio), 3),
      fmtFixed(s(summary.cpu.warren), 1),
      fmtFixed(s(summary.cpu.floor), 1),
    ]);
  const lines = [
    '',
    row(['round', 'order', 'warren msg/s', 'floor msg/s', 'warren/floor', 'warren µs', 'floor µs']),
    ...rounds.map((r) => {
      const w = r.results.warren;
      const f = r.results.floor;
      return row([
        String(r.round),
        r.order.join('→'),
        fmtInt(w?.rate),
        fmtInt(f?.rate),
        fmtFixed(div(w?.rate, f?.rate), 3),
        fmtFixed(w?.cpuMicrosPerMessage, 1),
        fmtFixed(f?.cpuMicrosPerMessage, 1),
      ]);
    }),
    line('best', (s) => s.best),
    line('median', (s) => s.median),
    '(µs = process CPU per message over the drain, receiver thread included; best = lowest)',
    '',
  ];
  if (summary.met !== undefined) {
    lines.push(
      `target: Warren ≥ ${options.target} × floor (best rate vs best rate): ${fmtFixed(summary.ratio.best, 3)} → ` +
        (summary.met ? 'MET' : 'NOT MET'),
    );
  }
  console.log(lines.join('\n'));
}

export function jsonLine(
  rounds: Round[],
  summary: Summary,
  options: BenchOptions,
  env: Record<string, unknown>,
): string {
  const result = (r: DrainResult | undefined) =>
    r && {
      rate: Math.round(r.rate),
      seconds: Number(r.seconds.toFixed(4)),
      cpuMicrosPerMessage: Number(r.cpuMicrosPerMessage.toFixed(2)),
      startupMs: Math.round(r.startupMs),
      fillRate: Math.round(r.fillRate),
      leftover: r.leftover,
    };
  const round = (n: number | undefined, digits = 0) => (n === undefined ? null : Number(n.toFixed(digits)));
  const stats = (s: Stats, digits = 0) => ({ best: round(s.best, digits), median: round(s.median, digits) });
  return JSON.stringify({
    bench: 'warren-webhook-drain',
    messages: options.messages,
    bytes: 512,
    prefetch: options.prefetch,
    queueType: options.queueType,
    ...env,
    rounds: rounds.map((r) => ({
      round: r.round,
      order: r.order,
      warren: result(r.results.warren),
      floor: result(r.results.floor),
    })),
    warren: { rate: stats(summary.rate.warren), cpuMicrosPerMessage: stats(summary.cpu.warren, 2) },
    floor: { rate: stats(summary.rate.floor), cpuMicrosPerMessage: stats(summary.cpu.floor, 2) },
    ratio: stats(summary.ratio, 4),
    target: options.target,
    met: summary.met ?? null,
  });
}
