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

export const durationSchema = {
  description: 'A duration: `250ms`, `10s`, `2m`, `1h`, or integer milliseconds.',
  anyOf: [
    { type: 'string', format: 'duration' },
    { type: 'integer', minimum: 0 },
  ],
} as const;
