import type { ConfirmPublisher } from '../amqp/publisher.js';
import type { RouteRuntime } from '../delivery/dispatch.js';
import { circuitOf, type RouteGates } from '../delivery/gates.js';
import { WarrenError } from '../errors.js';
import { createRouteHandler, type SandboxSource } from '../targets/handler.js';
import type { Handler, TargetModule } from '../targets/types.js';
import type { RoutePlan } from '../topology/plan.js';

/**
 * Handler and publisher for a route version; loading its plugins may fail (WARREN_E_PLUGIN_FAILED).
 * The route's gates are shared by all its versions; they take this version's policies when it
 * starts running (`RouteGates.configure`).
 */
export async function createRouteRuntime(
  plan: RoutePlan,
  publisher: ConfirmPublisher,
  gates: RouteGates,
  sandbox: SandboxSource,
): Promise<RouteRuntime> {
  try {
    const handler = await createHandler(plan, publisher, gates, sandbox);
    // Every route has gates: at least its in-flight byte budget.
    return { plan, publisher, handler, gates };
  } catch (err) {
    throw new WarrenError('WARREN_E_PLUGIN_FAILED', `route \`${plan.name}\`: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function createHandler(
  plan: RoutePlan,
  publisher: ConfirmPublisher,
  gates: RouteGates,
  sandbox: SandboxSource,
): Promise<Handler> {
  // The circuit hears the target's outcomes, not the transform's or the filter's.
  const observed = circuitOf(plan)
    ? (module: TargetModule): TargetModule => ({
        ...module,
        create: async (spec, deps) => gates.observe(await module.create(spec as never, deps)),
      })
    : undefined;
  return createRouteHandler(plan, { publisher, sandbox }, observed);
}

export function asWarrenError(err: unknown, route: string): WarrenError {
  if (err instanceof WarrenError) return err;
  return new WarrenError('WARREN_E_TOPOLOGY_FAILED', `route \`${route}\`: ${(err as Error).message}`, {
    cause: err,
  });
}
