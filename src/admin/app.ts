import { Hono } from 'hono';
import { queueDepthsOn, registerDlqGauge } from '../dlq/gauge.js';
import type { ReloadReport } from '../runtime/report.js';
import type { Runtime } from '../runtime/runtime.js';
import { registry } from '../telemetry/metrics.js';
import { createStatusRoutes } from '../ui/serve.js';
import { requireAdmin } from './auth.js';
import { createDlqRoutes } from './dlq-routes.js';

export interface AdminOptions {
  /** Runs a reload now (POST /api/reload). */
  reload?: () => Promise<ReloadReport | undefined>;
  /** WARREN_ADMIN_TOKEN (trimmed; blank is none): required by mutating endpoints and DLQ reads. */
  token?: string;
  /**
   * Whether the server is bound to a loopback address: without a token, mutating endpoints and
   * DLQ reads answer only then. Default true (an app served in-process, as the tests do).
   */
  boundToLoopback?: () => boolean;
}

/**
 * The admin HTTP API (README: Admin API and metrics): health, readiness, metrics, the running routes, pause and
 * resume, reload, and the status page (`GET /`, README: Status page) with the endpoints it polls. Mutating endpoints go behind `admin` (the bearer token, or a loopback bind).
 */
export function createAdminApp(runtime: Runtime, options: AdminOptions = {}): Hono {
  const app = new Hono();
  const admin = requireAdmin(options.token, options.boundToLoopback ?? (() => true));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', (c) => {
    const readiness = runtime.readiness();
    return c.json({ ready: readiness.ready, reasons: readiness.reasons }, readiness.ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    c.header('content-type', registry.contentType);
    return c.body(await registry.metrics());
  });

  app.get('/api/routes', (c) => c.json(runtime.describe()));

  app.get('/api/routes/:name', (c) => {
    const route = runtime.describe().routes.find((r) => r.name === c.req.param('name'));
    return route ? c.json(route) : c.json({ error: `no route named ${c.req.param('name')}` }, 404);
  });

  // Idempotent: pausing a paused route (or resuming a running one) answers 200 with changed: false.
  // Pause answers once the deliveries in flight finished (up to the drain timeout).
  app.post('/api/routes/:name/pause', admin, async (c) => {
    const name = c.req.param('name');
    const result = await runtime.pause(name);
    if (!result) return c.json({ error: `no route named ${name}` }, 404);
    return c.json({ name, state: 'paused', ...result });
  });

  app.post('/api/routes/:name/resume', admin, async (c) => {
    const name = c.req.param('name');
    const result = await runtime.resume(name);
    if (!result) return c.json({ error: `no route named ${name}` }, 404);
    const route = runtime.describe().routes.find((r) => r.name === name);
    return c.json({ name, state: route?.state, ...result });
  });

  app.get('/api/prune', async (c) => c.json(await runtime.pruneCandidates()));

  const reload = options.reload;
  if (reload) {
    app.post('/api/reload', admin, async (c) => {
      const report = await reload();
      // 200 when the configuration was applied (or unchanged), 422 when it was invalid or a route
      // kept its previous version: the body says which.
      const ok = report !== undefined && (report.result === 'applied' || report.result === 'unchanged');
      return c.json(runtime.redacted(report ?? { result: 'unchanged' }), ok ? 200 : 422);
    });
  }

  app.route(
    '/',
    createDlqRoutes({
      route: (name) => runtime.plan.routes.find((r) => r.name === name),
      connections: () => runtime.connections,
      requireAdmin: admin,
      redact: (value) => runtime.redacted(value),
    }),
  );
  const dlq = registerDlqGauge({
    routes: () => runtime.plan.routes,
    depths: queueDepthsOn(() => runtime.connections?.consume),
  });
  app.route('/', createStatusRoutes({ runtime, dlq }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  return app;
}
