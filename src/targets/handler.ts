import type { PluginRef } from '../config/types.js';
import { compileContract } from '../contracts/body.js';
import type { SchemaSet } from '../contracts/compile.js';
import { compileFilter, withFilter } from '../delivery/filter.js';
import { withTransform } from '../plugins/transform.js';
import type { PluginSandbox } from '../sandbox/isolate.js';
import type { RoutePlan } from '../topology/plan.js';
import { withContract } from './contract.js';
import { type AnyTarget, targets } from './registry.js';
import type { Handler, TargetDeps } from './types.js';

/** A route's target alone, made by the module the registry lists for its kind. */
export async function createTarget(spec: RoutePlan['target'], deps: TargetDeps): Promise<Handler> {
  const module = targets.find((t) => t.kind === spec.kind) as AnyTarget;
  return module.create(spec as never, deps);
}

/**
 * A route's whole handler around its target: its `when` filter, then its `schema:` check, then
 * its `transform`, then `target` (each when the route has one). The caller makes the target, so it can wrap it (the
 * runtime's circuit breaker hears the target's outcomes and nothing else) or stand in for it
 * (`warren test` records what a webhook would have sent).
 */
export async function createRouteHandler(
  plan: Pick<RoutePlan, 'transform' | 'when' | 'schema' | 'outputSchema'>,
  deps: TargetDeps,
  target: Handler,
): Promise<Handler> {
  // The receiver's contract guards the target itself: every message the transform hands it.
  const guarded = plan.outputSchema
    ? withContract(compileContract(plan.outputSchema, schemaSet(deps, plan.outputSchema.setHash)), target)
    : target;
  const transformed = plan.transform
    ? withTransform(await deps.sandbox(plan.transform), plan.transform, guarded)
    : guarded;
  const checked = plan.schema
    ? withContract(compileContract(plan.schema, schemaSet(deps, plan.schema.setHash)), transformed)
    : transformed;
  return plan.when ? withFilter(compileFilter(plan.when), checked) : checked;
}

function schemaSet(deps: TargetDeps, hash: string): SchemaSet {
  if (!deps.schemas) throw new Error('a route with schema: needs the compiled schemas directory');
  return deps.schemas(hash);
}

export type SandboxSource = (ref: PluginRef) => Promise<PluginSandbox>;
