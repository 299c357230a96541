import { type Context, Hono } from 'hono';
import { compress } from 'hono/compress';
import type { Metric } from 'prom-client';
import type { Plan } from '../topology/plan.js';
import { readAsset } from './assets.js';
import { type StatusSource, statusView } from './status.js';
import { topologyView } from './topology.js';

export interface StatusPageOptions {
  runtime: StatusSource & { readonly plan: Plan; redacted<T>(value: T): T };
  /** The DLQ depth gauge the admin app registered. */
  dlq: Metric;
}

/** What a JSON client asking for `/` gets: where things are (before the page, `/` was a 404). */
const index = {
  page: '/',
  status: '/api/status',
  topology: '/api/topology',
  routes: '/api/routes',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
};

/** A client that asks for JSON and not HTML (`curl -H 'accept: application/json'`, a script). */
function wantsJson(c: Context): boolean {
  const accept = c.req.header('accept') ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

async function serveAsset(c: Context, path: string) {
  const answer = await readAsset(path, c.req.header('if-none-match'));
  if ('error' in answer) return c.json({ error: answer.error }, answer.status);
  for (const [name, value] of Object.entries(answer.headers)) c.header(name, value);
  if (!('body' in answer)) return c.body(null, 304);
  return c.body(answer.body as Uint8Array<ArrayBuffer>, 200);
}

/**
 * The status page (README: Status page) as a sub-app of the admin app: `GET /` and its files under
 * `/ui/`, and the two read-only endpoints it polls. Everything is computed per request; nothing
 * runs while nobody looks.
 */
export function createStatusRoutes(options: StatusPageOptions): Hono {
  const app = new Hono();
  const { runtime } = options;
  // The page's answers compress well (route names and field names repeat): gzip when the browser
  // asks, on these paths only (the rest of the admin API answers as it always did).
  for (const path of ['/', '/ui/*', '/api/status', '/api/topology']) app.use(path, compress());

  app.get('/', (c) => (wantsJson(c) ? c.json(index) : serveAsset(c, '/')));
  app.get('/ui/*', (c) => serveAsset(c, c.req.path));

  app.get('/api/status', async (c) => {
    c.header('cache-control', 'no-store');
    return c.json(await statusView(runtime, { dlq: options.dlq }));
  });

  app.get('/api/topology', (c) => c.json(runtime.redacted(topologyView(runtime.plan))));

  return app;
}
