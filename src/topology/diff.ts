import { canonicalJson } from './fingerprint.js';
import type { BindingDecl, Plan, RoutePlan } from './plan.js';

/**
 * What changes between two plans (Vector's to_add / to_change / to_remove). Pure; `apply` acts
 * on it. Queues and exchanges are never in a removal list: a reload does not delete them.
 */
export interface TopologyDiff {
  routes: {
    add: RoutePlan[];
    /** Target, retry, concurrency or DLQ changed: declare new tiers/DLQ, swap the handler, keep the consumer. */
    changeHandler: RoutePlan[];
    /** Queue, its arguments, bindings or prefetch changed: new consumer first, then drain the old. */
    changeSource: RoutePlan[];
    remove: RoutePlan[];
    unchanged: RoutePlan[];
  };
  /** Bindings in the old plan and not in the new one, to unbind. */
  unbind: BindingDecl[];
}

export function bindingKey(b: BindingDecl): string {
  return canonicalJson([b.destinationKind, b.destination, b.exchange, b.key, b.headers ?? null]);
}

/** Every binding a plan declares: exchange-to-exchange, standalone queues', routes'. */
export function planBindings(plan: Plan): BindingDecl[] {
  return [...plan.exchangeBindings, ...plan.queueBindings, ...plan.routes.flatMap((r) => r.bindings)];
}

export function diffPlans(previous: Plan, next: Plan): TopologyDiff {
  const before = new Map(previous.routes.map((r) => [r.name, r]));
  const after = new Set(next.routes.map((r) => r.name));
  const diff: TopologyDiff = {
    routes: { add: [], changeHandler: [], changeSource: [], remove: [], unchanged: [] },
    unbind: [],
  };
  for (const route of next.routes) {
    const old = before.get(route.name);
    if (!old) diff.routes.add.push(route);
    else if (old.fingerprint === route.fingerprint) diff.routes.unchanged.push(route);
    else if (old.sourceFingerprint === route.sourceFingerprint) diff.routes.changeHandler.push(route);
    else diff.routes.changeSource.push(route);
  }
  diff.routes.remove = previous.routes.filter((r) => !after.has(r.name));
  const kept = new Set(planBindings(next).map(bindingKey));
  diff.unbind = planBindings(previous).filter((b) => !kept.has(bindingKey(b)));
  return diff;
}

/**
 * The diff's unbinds when the new versions in `notApplied` did not apply (their previous versions
 * kept running): the diff assumed they took their new bindings, so a binding of `previous` that
 * only such a new version kept is dropped as well. Whether a running route still binds one of
 * these (a previous version kept) is the caller's to check.
 */
export function unbindsWithout(diff: TopologyDiff, previous: Plan, notApplied: RoutePlan[]): BindingDecl[] {
  if (notApplied.length === 0) return diff.unbind;
  const notTaken = new Set(notApplied.flatMap((r) => r.bindings).map(bindingKey));
  return [...diff.unbind, ...planBindings(previous).filter((b) => notTaken.has(bindingKey(b)))];
}
