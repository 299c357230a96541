import type { RouteConsumer } from '../amqp/consumer.js';
import type { GatesDescription, RouteGates } from '../delivery/gates.js';
import type { WarrenError } from '../errors.js';
import type { RoutePlan } from '../topology/plan.js';

/** `paused`: deliberately, by `POST /api/routes/:name/pause`; the queue keeps its messages. */
export type RouteState = 'waiting' | 'declaring' | 'consuming' | 'paused' | 'failed' | 'stopped';

/** What the runtime holds for one route; `pending` is a newer version that failed to apply. */
export interface RouteEntry {
  plan: RoutePlan;
  consumer: RouteConsumer;
  state: RouteState;
  error?: WarrenError;
  pending?: { plan: RoutePlan; error: WarrenError };
  /** Its plugins failed to load: not started until a (re)start loads them. */
  broken?: boolean;
  /** Its rate limit and circuit breaker, kept across versions of the route. */
  gates: RouteGates;
  /** Paused through the admin API: declared but not consumed, across reloads, until resumed. */
  paused?: boolean;
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
  paused: boolean;
  /** Deliveries held (unacked): running in a handler or waiting. */
  inFlight: number;
  /** Of those, waiting: for a handler slot, a rate-limit token or a closed circuit. */
  waiting: number;
  /** The rate limit, with the tokens in the bucket now. */
  rateLimit?: GatesDescription['rateLimit'];
  /** The webhook's circuit breaker: `closed`, `open` or `half-open`, since when, and the current
   * window's requests and failures. */
  circuit?: GatesDescription['circuit'];
  target: RoutePlan['target'];
  retry: RoutePlan['retry'];
  fingerprint: string;
  file: string;
  line: number;
}

const errorOf = (e: WarrenError) => ({ code: e.code, message: e.message });

export function describeRoute(entry: RouteEntry): RouteDescription {
  const { plan } = entry;
  const gates = entry.gates.describe();
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
    paused: entry.paused === true,
    inFlight: entry.consumer.inFlight,
    waiting: entry.consumer.waiting,
    ...gates,
    target: plan.target,
    retry: plan.retry,
    fingerprint: plan.fingerprint,
    file: plan.origin.file,
    line: plan.origin.line,
  };
}
