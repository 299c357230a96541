import type { RouteConsumer } from '../delivery/consumer.js';
import type { RouteGates } from '../delivery/gates.js';
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
