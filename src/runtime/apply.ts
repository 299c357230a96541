import type { Connections } from '../amqp/session.js';
import type { RouteConsumer } from '../delivery/consumer.js';
import type { RouteVersion } from '../delivery/dispatch.js';
import type { WarrenError } from '../errors.js';
import { events } from '../telemetry/events.js';
import { declareRoute, declareShared, unbindAll } from '../topology/declare.js';
import { bindingKey, diffPlans, planBindings, type TopologyDiff, unbindsWithout } from '../topology/diff.js';
import type { BindingDecl, Plan, RoutePlan } from '../topology/plan.js';
import { type Declared, recordDeclared } from '../topology/prune.js';
import type { RouteEntry } from './entry.js';
import type { RouteChange, RouteReloadResult } from './report.js';
import { asWarrenError } from './route-version.js';
import type { RouteTable } from './table.js';

/** What the runtime keeps between reloads, as far as applying them needs it. */
export interface Running {
  readonly routes: RouteTable;
  /** Exchanges, exchange bindings and standalone queues of the newest valid configuration. */
  shared: Plan;
  /** What declaring `shared` failed on last time, for `/api/routes`. */
  sharedFailures: WarrenError[];
  /** Bindings reloads dropped while no connection was open, unbound on the next one. */
  pendingUnbind: BindingDecl[];
  /** Every queue and exchange this process declared: what a reload dropped is a prune candidate. */
  readonly declared: Declared;
}

/** What runs now: the shared entities of the newest valid config and each route's running version. */
export function runningPlan(running: Running): Plan {
  return { ...running.shared, routes: [...running.routes.values()].map((e) => e.plan) };
}

/**
 * Applies one reload: `next` is the plan of a valid configuration. The caller runs reloads one at a
 * time (the runtime's queue), so nothing else changes the running routes meanwhile. In order:
 *
 * 1. One diff, of what runs now against `next`.
 * 2. Shared topology (exchanges first: a route reading from one that failed fails too).
 * 3. Route by route, at once; one route's failure never stops the others, and a route whose new
 *    version failed keeps its previous one (and that one's bindings).
 * 4. Unbinds: what the diff dropped (and what only a new version that did not apply kept), less
 *    what the running routes still bind. Kept for the next connection when there is none.
 * 5. Prune bookkeeping: what is declared now may become a prune candidate later.
 *
 * Undefined `connections` (disconnected): routes take their new versions and are declared and
 * started on connect (`applyAgain`). Results are sorted by route.
 */
export async function applyReload(
  running: Running,
  next: Plan,
  connections: Connections | undefined,
): Promise<RouteReloadResult[]> {
  const before = runningPlan(running);
  const diff = diffPlans(before, next);
  running.shared = { ...next, routes: [] };
  const failedExchanges = connections ? await declareSharedOf(running, connections) : new Map();
  const results = await applyRouteChanges(running.routes, diff.routes, connections, failedExchanges);
  const dropped = unbindsWithout(diff, before, keptBack(running, diff));
  running.pendingUnbind.push(...notRunning(running, dropped));
  if (connections) await unbindPending(running, connections);
  recordDeclared(running.declared, runningPlan(running));
  return results;
}

/** After a (re)connect: everything again, since the new connection has no consumers. */
export async function applyAgain(running: Running, connections: Connections): Promise<void> {
  const failedExchanges = await declareSharedOf(running, connections);
  await unbindPending(running, connections);
  await running.routes.startAll(connections, failedExchanges);
}

/** Declares the shared topology; resolves with the exchanges that failed, by name. */
async function declareSharedOf(
  running: Running,
  connections: Connections,
): Promise<Map<string, WarrenError>> {
  const { log } = running.routes;
  const shared = await declareShared(connections.consume, running.shared).catch((err: unknown) => {
    log.error({ event: 'apply_failed', err }, 'declaring shared topology failed');
    return undefined;
  });
  running.sharedFailures = shared?.failures ?? [];
  for (const failure of running.sharedFailures) events.entityFailed(log, 'shared', failure.message);
  return shared?.failedExchanges ?? new Map();
}

/** The routes of the diff whose new version did not apply: they hold it as `pending`. */
function keptBack(running: Running, diff: TopologyDiff): RoutePlan[] {
  return [...diff.routes.changeHandler, ...diff.routes.changeSource].filter(
    (plan) => running.routes.get(plan.name)?.pending?.plan === plan,
  );
}

function notRunning(running: Running, bindings: BindingDecl[]): BindingDecl[] {
  if (bindings.length === 0) return bindings;
  const stillBound = new Set(planBindings(runningPlan(running)).map(bindingKey));
  return bindings.filter((b) => !stillBound.has(bindingKey(b)));
}

/** Unbinds what reloads dropped, except what the running plan binds again since. */
async function unbindPending(running: Running, connections: Connections): Promise<void> {
  if (running.pendingUnbind.length === 0) return;
  const unbind = notRunning(running, running.pendingUnbind);
  running.pendingUnbind = [];
  const failures = await unbindAll(connections.consume, unbind);
  for (const failure of failures) events.entityFailed(running.routes.log, 'unbind', failure.message);
}

/** The error that kept a route's new version from running, if any. */
type Applied = Promise<WarrenError | undefined>;

/** What every route's part of one reload works with. */
interface RouteReload {
  routes: RouteTable;
  /** Undefined while disconnected: routes are then declared and started on connect. */
  connections: Connections | undefined;
  /** Exchanges that failed to declare: routes reading from them fail too. */
  failedExchanges: Map<string, WarrenError>;
}

/** A change for a consuming route; one that is not consuming just takes the new version. */
type ConsumingChange = (
  r: RouteReload,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections,
) => Applied;

/**
 * Step 3: adds, handler swaps, source changes and retries of failed unchanged routes (when
 * connected) at once, then removals.
 */
async function applyRouteChanges(
  routes: RouteTable,
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
  const r: RouteReload = { routes, connections, failedExchanges };
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

function ifConsuming(r: RouteReload, plan: RoutePlan, change: ConsumingChange): Applied {
  const entry = r.routes.get(plan.name)!;
  if (!r.connections || entry.state !== 'consuming') return replaceIdle(r, entry, plan);
  return change(r, entry, plan, r.connections);
}

/** A route that is not consuming (failed, or waiting for the broker) just takes the new version. */
async function replaceIdle(r: RouteReload, entry: RouteEntry, plan: RoutePlan): Applied {
  // A paused route's consumer was stopped by the pause, which may still be draining it.
  if (!entry.paused) void entry.consumer.stop(0);
  return install(r, entry, plan);
}

/** Gives the entry a consumer for `plan` and, when connected, declares and starts it. */
async function install(r: RouteReload, entry: RouteEntry, plan: RoutePlan): Applied {
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
  r: RouteReload,
  entry: RouteEntry,
  plan: RoutePlan,
  connections: Connections,
): Applied {
  let version: RouteVersion;
  try {
    version = await r.routes.versionFor(entry, plan);
    await declareRoute(connections.consume, plan, r.failedExchanges);
  } catch (err) {
    return keepPrevious(r.routes, entry, plan, err);
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
  r: RouteReload,
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
    return keepPrevious(r.routes, entry, plan, err);
  }
  const old = entry.consumer;
  entry.consumer = consumer;
  entry.plan = plan;
  entry.pending = undefined;
  r.routes.drain(plan.name, old, 'source changed');
  return undefined;
}

function keepPrevious(routes: RouteTable, entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
  const error = asWarrenError(err, plan.name);
  entry.pending = { plan, error };
  events.routeState(
    routes.log,
    plan.name,
    'consuming',
    `new version not applied, previous kept: ${error.message}`,
  );
  return error;
}

async function retryRoute(r: RouteReload, name: string, connections: Connections): Applied {
  const entry = r.routes.get(name)!;
  await r.routes.start(entry, connections, r.failedExchanges);
  return entry.state === 'failed' ? entry.error : undefined;
}
