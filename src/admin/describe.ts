import type { RouteConsumer } from '../amqp/consumer.js';
import type { WarrenError } from '../errors.js';
import type { RoutePlan } from '../topology/plan.js';

export type RouteState = 'waiting' | 'declaring' | 'consuming' | 'failed' | 'stopped';

/** What the runtime holds for one route; `pending` is a newer version that failed to apply. */
export interface RouteEntry {
  plan: RoutePlan;
  consumer: RouteConsumer;
  state: RouteState;
  error?: WarrenError;
  pending?: { plan: RoutePlan; error: WarrenError };
  /** Its plugins failed to load: not started until a (re)start loads them. */
  broken?: boolean;
}

export interface RouteDescription {
  name: string;
  state: RouteState;
  error?: { code: string; message: string };
  /** A newer version of the route that could not be applied; the one described keeps running. */
  pending?: { fingerprint: string; error: { code: string; message: string } };
  queue: string;
  deadLetterQueue: string;
  retryQueues: string[];
  prefetch: number;
  concurrency: number;
  inFlight: number;
  target: RoutePlan['target'];
  retry: RoutePlan['retry'];
  fingerprint: string;
  file: string;
  line: number;
}

const errorOf = (e: WarrenError) => ({ code: e.code, message: e.message });

export function describeRoute(entry: RouteEntry): RouteDescription {
  const { plan } = entry;
  return {
    name: plan.name,
    state: entry.state,
    ...(entry.error ? { error: errorOf(entry.error) } : {}),
    ...(entry.pending
      ? { pending: { fingerprint: entry.pending.plan.fingerprint, error: errorOf(entry.pending.error) } }
      : {}),
    queue: plan.queue,
    deadLetterQueue: plan.deadLetterQueue,
    retryQueues: plan.tiers.map((t) => t.queue),
    prefetch: plan.prefetch,
    concurrency: plan.concurrency,
    inFlight: entry.consumer.inFlight,
    target: plan.target,
    retry: plan.retry,
    fingerprint: plan.fingerprint,
    file: plan.origin.file,
    line: plan.origin.line,
  };
}
