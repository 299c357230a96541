import type { ConfirmPublisher } from '../amqp/publisher.js';
import type { RouteVersion } from '../delivery/dispatch.js';
import { circuitOf, type RouteGates } from '../delivery/gates.js';
import { WarrenError } from '../errors.js';
import { createRouteHandler, createTarget } from '../targets/handler.js';
import type { TargetDeps } from '../targets/types.js';
import type { RoutePlan } from '../topology/plan.js';

/**
 * One version of a route: its plan, handler, publisher and gates. Loading its plugins may fail
 * (WARREN_E_PLUGIN_FAILED). Its `schema:` check uses the compiled set of the directory it was
 * validated with; until this version runs, the one before keeps its own. The route's gates are shared by all its versions; they take this
 * version's policies when it starts running (`RouteGates.configure`).
 */
export async function createRouteVersion(
  plan: RoutePlan,
  publisher: ConfirmPublisher,
  gates: RouteGates,
  sources: Pick<TargetDeps, 'sandbox' | 'schemas' | 'secrets'>,
): Promise<RouteVersion> {
  try {
    const deps: TargetDeps = {
      publisher,
      sandbox: sources.sandbox,
      schemas: sources.schemas,
      secrets: sources.secrets,
    };
    const target = await createTarget(plan.target, deps);
    // filter → transform → observed target: the circuit hears the target's outcomes, not what the
    // transform or the filter decided before a request was made.
    const observed = circuitOf(plan) ? gates.observe(target) : target;
    const handler = await createRouteHandler(plan, deps, observed);
    // Every route has gates: at least its in-flight byte budget.
    return { plan, publisher, handler, gates };
  } catch (err) {
    throw new WarrenError('WARREN_E_PLUGIN_FAILED', `route \`${plan.name}\`: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export function asWarrenError(err: unknown, route: string): WarrenError {
  if (err instanceof WarrenError) return err;
  return new WarrenError('WARREN_E_TOPOLOGY_FAILED', `route \`${route}\`: ${(err as Error).message}`, {
    cause: err,
  });
}
