import { Hono } from 'hono';
import type { Runtime } from '../runtime.js';
import { registry } from '../telemetry/metrics.js';

/** The admin HTTP API (DESIGN §7): health, readiness, metrics and the running routes. */
export function createAdminApp(runtime: Runtime): Hono {
  const app = new Hono();

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

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  return app;
}
