import type { Logger } from 'pino';
import type { RouteConsumer } from '../amqp/consumer.js';
import type { Connections } from '../amqp/session.js';
import type { RouteRuntime } from '../delivery/dispatch.js';
import type { WarrenError } from '../errors.js';
import type { RouteChange, RouteReloadResult } from '../reload-report.js';
import { events } from '../telemetry/events.js';
import { applyRoute } from '../topology/apply.js';
import type { TopologyDiff } from '../topology/diff.js';
import type { RoutePlan } from '../topology/plan.js';
import type { RouteEntry } from './entry.js';
import { asWarrenError } from './version.js';

/** What applying one route's change needs from the running routes (`RouteTable`). */
export interface RunningRoutes {
  readonly log: Logger;
  get(name: string): RouteEntry | undefined;
  /** A new entry for the route, in the table and waiting; it has no consumer yet. */
  add(plan: RoutePlan): RouteEntry;
  /** Cancel, drain and close; the queue and its messages stay. */
  remove(name: string): void;
  /** Handler and publisher for a route version; fails with WARREN_E_PLUGIN_FAILED. */
  runtimeFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteRuntime>;
  /** A consumer (not started) for a route version; fails like `runtimeFor`. */
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
  await Promise.all([
    ...diff.add.map((plan) =>
      track(plan.name, 'added', addRoute(routes, plan, connections, failedExchanges)),
    ),
    ...diff.changeHandler.map((plan) =>
      track(plan.name, 'handler', changeHandler(routes, plan, connections, failedExchanges)),
    ),
    ...diff.changeSource.map((plan) =>
      track(plan.name, 'source', changeSource(routes, plan, connections, failedExchanges)),
    ),
    ...diff.unchanged
      .filter((plan) => routes.get(plan.name)?.state === 'failed' && connections)
      .map((plan) =>
        track(plan.name, 'retried', retryRoute(routes, plan.name, connections!, failedExchanges)),
      ),
  ]);
  for (const plan of diff.remove) {
    routes.remove(plan.name);
    results.push({ route: plan.name, change: 'removed', ok: true });
  }
  return results.sort((a, b) => a.route.localeCompare(b.route));
}

async function addRoute(
  routes: RunningRoutes,
  plan: RoutePlan,
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  return install(routes, routes.add(plan), plan, connections, failedExchanges);
}

/** A route that is not consuming (failed, or waiting for the broker) just takes the new version. */
async function replaceIdle(
  routes: RunningRoutes,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  // A paused route's consumer was stopped by the pause, which may still be draining it.
  if (!entry.paused) void entry.consumer.stop(0);
  return install(routes, entry, plan, connections, failedExchanges);
}

/** Gives the entry a consumer for `plan` and, when connected, declares and starts it. */
async function install(
  routes: RunningRoutes,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  try {
    entry.consumer = await routes.consumerFor(entry, plan);
  } catch (err) {
    return routes.broken(entry, plan, err);
  }
  entry.plan = plan;
  entry.pending = undefined;
  entry.broken = false;
  entry.gates.configure(plan);
  if (!connections) return undefined; // declared and started on connect
  await routes.start(entry, connections, failedExchanges);
  return entry.state === 'failed' ? entry.error : undefined;
}

/** Target, retry or concurrency changed: declare any new tier or DLQ, then swap the handler in
 * place. The consumer keeps running; deliveries already in a handler finish with the old one. */
async function changeHandler(
  routes: RunningRoutes,
  plan: RoutePlan,
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  const entry = routes.get(plan.name)!;
  if (!connections || entry.state !== 'consuming') {
    return replaceIdle(routes, entry, plan, connections, failedExchanges);
  }
  let runtime: RouteRuntime;
  try {
    runtime = await routes.runtimeFor(entry, plan);
    await applyRoute(connections.consume, plan, failedExchanges);
  } catch (err) {
    return keepPrevious(routes.log, entry, plan, err);
  }
  // A new rate limit or circuit policy applies to the running consumer, held deliveries included.
  entry.gates.configure(plan);
  entry.consumer.swap(runtime);
  entry.plan = plan;
  entry.pending = undefined;
  return undefined;
}

/** Queue, bindings or prefetch changed: the new consumer starts first, then the old one is
 * cancelled and drained in the background, so no delivery waits for the reload. */
async function changeSource(
  routes: RunningRoutes,
  plan: RoutePlan,
  connections: Connections | undefined,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  const entry = routes.get(plan.name)!;
  if (!connections || entry.state !== 'consuming') {
    return replaceIdle(routes, entry, plan, connections, failedExchanges);
  }
  let consumer: RouteConsumer | undefined;
  let configured = false;
  try {
    consumer = await routes.consumerFor(entry, plan);
    await applyRoute(connections.consume, plan, failedExchanges);
    // Before the new consumer's first delivery; the old one drains under the same gates.
    entry.gates.configure(plan);
    configured = true;
    await consumer.start(connections.consume);
  } catch (err) {
    void consumer?.stop(0);
    if (configured) entry.gates.configure(entry.plan);
    return keepPrevious(routes.log, entry, plan, err);
  }
  const old = entry.consumer;
  entry.consumer = consumer;
  entry.plan = plan;
  entry.pending = undefined;
  routes.drain(plan.name, old, 'source changed');
  return undefined;
}

function keepPrevious(log: Logger, entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
  const error = asWarrenError(err, plan.name);
  entry.pending = { plan, error };
  events.routeState(log, plan.name, 'consuming', `new version not applied, previous kept: ${error.message}`);
  return error;
}

async function retryRoute(
  routes: RunningRoutes,
  name: string,
  connections: Connections,
  failedExchanges: Map<string, WarrenError>,
): Applied {
  const entry = routes.get(name)!;
  await routes.start(entry, connections, failedExchanges);
  return entry.state === 'failed' ? entry.error : undefined;
}
