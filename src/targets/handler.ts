import type { PluginRef } from '../config/types.js';
import { withTransform } from '../plugins/transform.js';
import type { PluginSandbox } from '../sandbox/isolate.js';
import type { RoutePlan } from '../topology/plan.js';
import { targets } from './registry.js';
import type { Handler, TargetDeps, TargetModule } from './types.js';

/**
 * A route's whole handler: its target, behind its `transform` when it has one. Shared by the
 * runtime and `warren test`, which passes recording dependencies instead of a broker.
 */
export async function createRouteHandler(
  plan: Pick<RoutePlan, 'target' | 'transform'>,
  deps: TargetDeps,
  targetOverride?: (target: TargetModule) => TargetModule,
): Promise<Handler> {
  const module = targets.find((t) => t.kind === plan.target.kind) as TargetModule;
  const target = targetOverride ? targetOverride(module) : module;
  const handler = await target.create(plan.target as never, deps);
  return plan.transform
    ? withTransform(await deps.sandbox(plan.transform), plan.transform, handler)
    : handler;
}

export type SandboxSource = (ref: PluginRef) => Promise<PluginSandbox>;
