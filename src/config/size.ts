/** Decimal units as storage vendors write them, binary ones as the IEC does: `64MB` ≠ `64MiB`. */
const unitBytes = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
} as const;
const sizePattern = '^[1-9][0-9]*(B|KB|MB|GB|KiB|MiB|GiB)$';
const sizeRegExp = new RegExp(sizePattern);

/** Bytes of `512KiB`, `64MB`, `1GiB` or a whole number of bytes; NaN when it is neither. The
 * result may exceed what a number holds exactly: the caller checks `Number.isSafeInteger`. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number.NaN;
  const match = sizeRegExp.exec(value);
  if (!match) return Number.NaN;
  const unit = match[1] as keyof typeof unitBytes;
  return Number(value.slice(0, -unit.length)) * unitBytes[unit];
}

/**
 * One schema, no `anyOf`: `pattern` applies only to strings and `minimum` only to numbers, so each
 * mistake gets one message (the pattern's is this description).
 */
export const sizeSchema = {
  type: ['string', 'integer'],
  pattern: sizePattern,
  minimum: 1,
  description:
    'A size: whole bytes, or a number with B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).',
} as const;
