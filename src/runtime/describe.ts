import type { GatesDescription } from '../delivery/gates.js';
import type { WarrenError } from '../errors.js';
import type { RoutePlan } from '../topology/plan.js';
import type { RouteEntry, RouteState } from './entry.js';

export type { RouteEntry, RouteState } from './entry.js';

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
  /** Only for a `singleActiveConsumer` route. AMQP 0-9-1 does not tell a consumer it became the
   * active one: `active` once a delivery arrived on the current consumer, else `standby-or-idle`. */
  singleActiveConsumer?: 'active' | 'standby-or-idle';
  paused: boolean;
  /** Deliveries held (unacked): running in a handler or waiting. */
  inFlight: number;
  /** Of those, waiting: for a handler slot, room in the byte budget, a rate-limit token or a closed
   * circuit. */
  waiting: number;
  /** `maxInFlightBytes`, and the body bytes and deliveries started and not yet settled. */
  byteBudget: GatesDescription['byteBudget'];
  /** The rate limit, with the tokens in the bucket now. */
  rateLimit?: GatesDescription['rateLimit'];
  /** The webhook's circuit breaker: `closed`, `open` or `half-open`, since when, and the current
   * window's requests and failures. */
  circuit?: GatesDescription['circuit'];
  /** The route's message contract (`schema:`), with the hash of the schemas directory it was checked with. */
  schema?: RoutePlan['schema'];
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
    ...(plan.singleActiveConsumer
      ? { singleActiveConsumer: entry.consumer.delivered ? 'active' : 'standby-or-idle' }
      : {}),
    paused: entry.paused === true,
    inFlight: entry.consumer.inFlight,
    waiting: entry.consumer.waiting,
    ...gates,
    ...(plan.schema ? { schema: plan.schema } : {}),
    target: plan.target,
    retry: plan.retry,
    fingerprint: plan.fingerprint,
    file: plan.origin.file,
    line: plan.origin.line,
  };
}

/** One route as the status page polls it: state and holdings, no configuration, and no field
 * that says nothing (a quiet route is a few dozen bytes: 1,000 routes poll cheaply). */
export interface RouteStatus {
  name: string;
  state: RouteState;
  error?: string;
  /** A newer version that could not be applied: its error. */
  pending?: string;
  paused?: true;
  inFlight: number;
  waiting: number;
  /** The webhook circuit when it is not closed. */
  circuit?: 'open' | 'half-open';
  /** Its rate limit has no whole token now. */
  rateLimited?: true;
  /** The body bytes of its deliveries in flight fill `maxInFlightBytes`. */
  budgetFull?: true;
}

export function routeStatus(entry: RouteEntry): RouteStatus {
  const { plan } = entry;
  const gates = entry.gates.describe();
  const circuit = gates.circuit?.state;
  const budget = gates.byteBudget;
  return {
    name: plan.name,
    state: entry.state,
    ...(entry.error ? { error: entry.error.message } : {}),
    ...(entry.pending ? { pending: entry.pending.error.message } : {}),
    ...(entry.paused ? { paused: true } : {}),
    inFlight: entry.consumer.inFlight,
    waiting: entry.consumer.waiting,
    ...(circuit && circuit !== 'closed' ? { circuit } : {}),
    ...(gates.rateLimit && gates.rateLimit.tokens < 1 ? { rateLimited: true } : {}),
    ...(budget.deliveries > 0 && budget.bytes >= budget.maxInFlightBytes ? { budgetFull: true } : {}),
  };
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** What `/readyz` answers: connected, publishing not blocked, and every route consuming or paused. */
export function readinessOf(
  broker: { readonly connected: boolean; readonly blocked: boolean },
  routes: Iterable<RouteEntry>,
): Readiness {
  const reasons: string[] = [];
  if (!broker.connected) reasons.push('not connected to RabbitMQ');
  if (broker.blocked) reasons.push('RabbitMQ blocks publishing (resource alarm)');
  for (const entry of routes) {
    // Deliberately paused is ready; an open circuit is too (the route still consumes, and a
    // receiver outage must not get Warren's pods restarted): see /api/routes and the metrics.
    if (entry.state !== 'consuming' && entry.state !== 'paused') {
      reasons.push(
        `route ${entry.plan.name} is ${entry.state}${entry.error ? `: ${entry.error.message}` : ''}`,
      );
    }
  }
  return { ready: reasons.length === 0, reasons };
}
