const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const durationPattern = /^(\d+)(ms|s|m|h)$/;

/** True for `250ms`, `10s`, `2m`, `1h` or a non-negative integer of milliseconds. */
export function isDuration(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0;
  return typeof value === 'string' && durationPattern.test(value);
}

export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = durationPattern.exec(value);
  if (!match) throw new TypeError(`not a duration: ${value}`);
  return Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
}

/** The shortest exact spelling: 300000 → `5m`, 1500 → `1500ms`. Used in delay-tier queue names. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % unitMs.h === 0) return `${ms / unitMs.h}h`;
  if (ms > 0 && ms % unitMs.m === 0) return `${ms / unitMs.m}m`;
  if (ms > 0 && ms % unitMs.s === 0) return `${ms / unitMs.s}s`;
  return `${ms}ms`;
}

/** The longest delay Node's timers carry (2^31-1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DurationRange {
  minMs: number;
  maxMs: number;
}

/** `1ms to 15m`: a range as the error messages and the README write it. */
export function formatRange(range: DurationRange): string {
  return `${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)}`;
}

/**
 * A duration key bounded to `range`: the shape is plain JSON Schema (editors check it), the range
 * is the `durationRange` keyword Warren's validator adds (a string such as `1000h` has no JSON
 * Schema bound), so the limit lives once, beside the key.
 */
export function durationSchema(range: DurationRange, description: string) {
  return {
    description: `${description} A duration (\`250ms\`, \`10s\`, \`2m\`, \`1h\` or integer milliseconds) from ${formatRange(range)}.`,
    anyOf: [
      { type: 'string', format: 'duration' },
      { type: 'integer', minimum: 0 },
    ],
    durationRange: range,
  } as const;
}
