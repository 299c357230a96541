import { WarrenError } from '../errors.js';

/**
 * `--limit` / `?limit=`: a whole number from 1 to `max`, or `fallback` when absent. Anything else is
 * a WARREN_E_USAGE error saying what is allowed.
 */
export function parseLimit(
  raw: string | undefined,
  fallback: number | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? 'a whole number of at least 1' : `a whole number from 1 to ${max}`;
    throw new WarrenError('WARREN_E_USAGE', `limit must be ${range}, not ${JSON.stringify(raw)}`);
  }
  return n;
}
