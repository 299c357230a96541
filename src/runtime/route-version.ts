import type { ConfirmPublisher } from '../amqp/publisher.js';
import type { RouteVersion } from '../delivery/dispatch.js';
import { circuitOf, type RouteGates } from '../delivery/gates.js';
import { WarrenError } from '../errors.js';
import { createRouteHandler, createTarget, type SandboxSource } from '../targets/handler.js';
import type { RoutePlan } from '../topology/plan.js';

/**
 * One version of a route: its plan, handler, publisher and gates. Loading its plugins may fail
 * (WARREN_E_PLUGIN_FAILED). The route's gates are shared by all its versions; they take this
 * version's policies when it starts running (`RouteGates.configure`).
 */
export async function createRouteVersion(
  plan: RoutePlan,
  publisher: ConfirmPublisher,
  gates: RouteGates,
  sandbox: SandboxSource,
): Promise<RouteVersion> {
  try {
    const deps = { publisher, sandbox };
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
