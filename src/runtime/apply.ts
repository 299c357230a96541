import type { Logger } from 'pino';
import type { RouteConsumer } from '../amqp/consumer.js';
import type { Connections } from '../amqp/session.js';
import type { RouteVersion } from '../delivery/dispatch.js';
import type { WarrenError } from '../errors.js';
import { events } from '../telemetry/events.js';
import { declareRoute } from '../topology/declare.js';
import type { TopologyDiff } from '../topology/diff.js';
import type { RoutePlan } from '../topology/plan.js';
import type { RouteEntry } from './entry.js';
import type { RouteChange, RouteReloadResult } from './report.js';
import { asWarrenError } from './route-version.js';

/** What applying one route's change needs from the running routes (`RouteTable`). */
export interface RunningRoutes {
  readonly log: Logger;
  get(name: string): RouteEntry | undefined;
  /** A new entry for the route, in the table and waiting; it has no consumer yet. */
  add(plan: RoutePlan): RouteEntry;
  /** Cancel, drain and close; the queue and its messages stay. */
  remove(name: string): void;
  /** Handler and publisher for a route version; fails with WARREN_E_PLUGIN_FAILED. */
  versionFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteVersion>;
  /** A consumer (not started) for a route version; fails like `versionFor`. */
  consumerFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteConsumer>;
  /** Gives the entry `plan` with a consumer that cannot run it, and the state `failed`. */
  broken(entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError;
  /** Declares the entry's route and starts its consumer on `connections`, if still current. */
  start(
    entry: RouteEntry,
    connections: Connections,
    failedExchanges?: Map<string, WarrenError>,
  ): Promise<void>;
  /** Cancels and drains a consumer in the background. */
  drain(route: string, consumer: RouteConsumer, reason: string): Promise<number>;
}

/** The error that kept a route's new version from running, if any. */
type Applied = Promise<WarrenError | undefined>;

/** What every route's part of one reload works with. */
interface Reload {
  routes: RunningRoutes;
  /** Undefined while disconnected: routes are then declared and started on connect. */
  connections: Connections | undefined;
  /** Exchanges that failed to declare: routes reading from them fail too. */
  failedExchanges: Map<string, WarrenError>;
}

/** A change for a consuming route; one that is not consuming just takes the new version. */
type ConsumingChange = (r: Reload, entry: RouteEntry, plan: RoutePlan, connections: Connections) => Applied;

/**
 * The per-route part of a reload: adds, handler swaps, source changes, retries of failed unchanged
 * routes (when connected), then removals. Results sorted by route.
 */
export async function applyRouteChanges(
  routes: RunningRoutes,
  diff: TopologyDiff['routes'],
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Promise<RouteReloadResult[]> {
  const results: RouteReloadResult[] = [];
  const track = async (route: string, change: RouteChange, work: Applied) => {
    const error = await work;
    results.push({
      route,
      change,
      ok: !error,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
    });
  };
  const r: Reload = { routes, connections, failedExchanges };
  await Promise.all([
    ...diff.add.map((plan) => track(plan.name, 'added', install(r, routes.add(plan), plan))),
    ...diff.changeHandler.map((plan) => track(plan.name, 'handler', ifConsuming(r, plan, changeHandler))),
    ...diff.changeSource.map((plan) => track(plan.name, 'source', ifConsuming(r, plan, changeSource))),
    ...diff.unchanged
      .filter((plan) => routes.get(plan.name)?.state === 'failed' && connections)
      .map((plan) => track(plan.name, 'retried', retryRoute(r, plan.name, connections!))),
  ]);
  for (const plan of diff.remove) {
    routes.remove(plan.name);
    results.push({ route: plan.name, change: 'removed', ok: true });
  }
  return results.sort((a, b) => a.route.localeCompare(b.route));
}

function ifConsuming(r: Reload, plan: RoutePlan, change: ConsumingChange): Applied {
  const entry = r.routes.get(plan.name)!;
  if (!r.connections || entry.state !== 'consuming') return replaceIdle(r, entry, plan);
  return change(r, entry, plan, r.connections);
}

/** A route that is not consuming (failed, or waiting for the broker) just takes the new version. */
async function replaceIdle(r: Reload, entry: RouteEntry, plan: RoutePlan): Applied {
  // A paused route's consumer was stopped by the pause, which may still be draining it.
  if (!entry.paused) void entry.consumer.stop(0);
  return install(r, entry, plan);
}

/** Gives the entry a consumer for `plan` and, when connected, declares and starts it. */
async function install(r: Reload, entry: RouteEntry, plan: RoutePlan): Applied {
  try {
    entry.consumer = await r.routes.consumerFor(entry, plan);
  } catch (err) {
    return r.routes.broken(entry, plan, err);
  }
  entry.plan = plan;
  entry.pending = undefined;
  entry.broken = false;
  entry.gates.configure(plan);
  if (!r.connections) return undefined; // declared and started on connect
  await r.routes.start(entry, r.connections, r.failedExchanges);
  return entry.state === 'failed' ? entry.error : undefined;
}

/** Target, retry or concurrency changed: declare any new tier or DLQ, then swap the handler in
 * place. The consumer keeps running; deliveries already in a handler finish with the old one. */
async function changeHandler(
  r: Reload,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections,
): Applied {
  let version: RouteVersion;
  try {
    version = await r.routes.versionFor(entry, plan);
    await declareRoute(connections.consume, plan, r.failedExchanges);
  } catch (err) {
    return keepPrevious(r.routes.log, entry, plan, err);
  }
  // A new rate limit or circuit policy applies to the running consumer, held deliveries included.
  entry.gates.configure(plan);
  entry.consumer.swap(version);
  entry.plan = plan;
  entry.pending = undefined;
  return undefined;
}

/** Queue, bindings or prefetch changed: the new consumer starts first, then the old one is
 * cancelled and drained in the background, so no delivery waits for the reload. */
async function changeSource(
  r: Reload,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections,
): Applied {
  let consumer: RouteConsumer | undefined;
  let configured = false;
  try {
    consumer = await r.routes.consumerFor(entry, plan);
    await declareRoute(connections.consume, plan, r.failedExchanges);
    // Before the new consumer's first delivery; the old one drains under the same gates.
    entry.gates.configure(plan);
    configured = true;
    await consumer.start(connections.consume);
  } catch (err) {
    void consumer?.stop(0);
    if (configured) entry.gates.configure(entry.plan);
    return keepPrevious(r.routes.log, entry, plan, err);
  }
  const old = entry.consumer;
  entry.consumer = consumer;
  entry.plan = plan;
  entry.pending = undefined;
  r.routes.drain(plan.name, old, 'source changed');
  return undefined;
}

function keepPrevious(log: Logger, entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
  const error = asWarrenError(err, plan.name);
  entry.pending = { plan, error };
  events.routeState(log, plan.name, 'consuming', `new version not applied, previous kept: ${error.message}`);
  return error;
}

async function retryRoute(r: Reload, name: string, connections: Connections): Applied {
  const entry = r.routes.get(name)!;
  await r.routes.start(entry, connections, r.failedExchanges);
  return entry.state === 'failed' ? entry.error : undefined;
}
