import type { WebhookTargetSpec } from '../config/types.js';
import { ack, deadLetter, type Outcome, retry } from '../delivery/outcome.js';

/**
 * A route's exceptions to the response table (README: Responses): statuses it retries or dead-letters
 * whatever their default. Validation keeps the two lists apart and within 300–599.
 */
export interface StatusPolicy {
  retryOn: ReadonlySet<number>;
  deadLetterOn: ReadonlySet<number>;
}

const defaultPolicy: StatusPolicy = { retryOn: new Set(), deadLetterOn: new Set() };

export function statusPolicy(spec: Pick<WebhookTargetSpec, 'retryOn' | 'deadLetterOn'>): StatusPolicy {
  if (spec.retryOn.length === 0 && spec.deadLetterOn.length === 0) return defaultPolicy;
  return { retryOn: new Set(spec.retryOn), deadLetterOn: new Set(spec.deadLetterOn) };
}

/** 408, 429 and 5xx are worth trying again; other non-2xx responses will not change. */
function retriedByDefault(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The outcome of a response: 2xx acks; the route's `deadLetterOn` and `retryOn` come next; then
 * the default table. `Retry-After` goes with every retry, whichever rule made it one.
 */
export function classifyStatus(
  status: number,
  retryAfterMs?: number,
  policy: StatusPolicy = defaultPolicy,
): Outcome {
  if (status >= 200 && status < 300) return ack();
  const retried =
    !policy.deadLetterOn.has(status) && (policy.retryOn.has(status) || retriedByDefault(status));
  if (retried) {
    return retry(`HTTP ${status}`, {
      status,
      ...(retryAfterMs !== undefined ? { afterMs: retryAfterMs } : {}),
    });
  }
  return deadLetter(`HTTP ${status}`, { status });
}

/** `Retry-After` as delay-seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
