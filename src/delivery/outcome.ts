/**
 * What a target decided about one delivery. Only the delivery layer turns an outcome into broker
 * actions (docs/architecture.md: Delivery semantics); targets never ack, nack or publish retry copies themselves.
 */
export type Outcome =
  | { kind: 'ack' }
  | { kind: 'retry'; reason: string; status?: number; afterMs?: number }
  /** `contract`: the body broke the route's `schema:` (counted as `invalid`). */
  | { kind: 'dead-letter'; reason: string; status?: number; contract?: { schema?: string } }
  | { kind: 'drop'; reason: string }
  /** The route's `when` filter did not match: acked, counted as `filtered`. */
  | { kind: 'filtered'; reason: string };

export const ack = (): Outcome => ({ kind: 'ack' });

export const retry = (reason: string, extra: { status?: number; afterMs?: number } = {}): Outcome => ({
  kind: 'retry',
  reason,
  ...extra,
});

export const deadLetter = (reason: string, extra: { status?: number } = {}): Outcome => ({
  kind: 'dead-letter',
  reason,
  ...extra,
});

export const drop = (reason: string): Outcome => ({ kind: 'drop', reason });

export const filtered = (reason: string): Outcome => ({ kind: 'filtered', reason });

/** The body broke the route's message contract: dead-lettered at once, counted as `invalid`. */
export const invalid = (reason: string, schema?: string): Outcome => ({
  kind: 'dead-letter',
  reason,
  contract: schema === undefined ? {} : { schema },
});
