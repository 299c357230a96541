import type { PluginRef } from '../config/types.js';
import { compileFilter, withFilter } from '../delivery/filter.js';
import { withTransform } from '../plugins/transform.js';
import type { PluginSandbox } from '../sandbox/isolate.js';
import type { RoutePlan } from '../topology/plan.js';
import { targets } from './registry.js';
import type { Handler, TargetDeps, TargetModule } from './types.js';

/**
 * A route's whole handler: its `when` filter, then its `transform`, then its target (each when the
 * route has one). Shared by the runtime and `warren test`, which passes recording dependencies
 * instead of a broker.
 */
export async function createRouteHandler(
  plan: Pick<RoutePlan, 'target' | 'transform' | 'when'>,
  deps: TargetDeps,
  targetOverride?: (target: TargetModule) => TargetModule,
): Promise<Handler> {
  const module = targets.find((t) => t.kind === plan.target.kind) as TargetModule;
  const target = targetOverride ? targetOverride(module) : module;
  const handler = await target.create(plan.target as never, deps);
  const transformed = plan.transform
    ? withTransform(await deps.sandbox(plan.transform), plan.transform, handler)
    : handler;
  return plan.when ? withFilter(compileFilter(plan.when), transformed) : transformed;
}

export type SandboxSource = (ref: PluginRef) => Promise<PluginSandbox>;
