import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { assets, securityHeaders } from '../../src/ui/assets.js';
import { quantile } from '../../src/ui/status.js';
import { webhookOrigin } from '../../src/ui/topology.js';

/** The status page's files as the admin app serves them: an allow-list, never a path from the request. */

// A runtime that was never started: no broker, the admin app only serves files here.
const runtime = new Runtime({ amqpUrl: 'amqp://127.0.0.1:1', log: pino({ level: 'silent' }) });
const app = createAdminApp(runtime);

describe('the status page files', () => {
  it('serves the page at / with its security headers, and every listed file', async () => {
    const page = await app.request('/', { headers: { accept: 'text/html,*/*' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const [name, value] of Object.entries(securityHeaders)) expect(page.headers.get(name)).toBe(value);
    const html = await page.text();
    for (const path of assets.keys()) {
      if (path === '/') continue;
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      // Every file the page loads is on the list (and the modules import only listed files).
      if (path.endsWith('.css') || path.includes('vendor') || path === '/ui/app.js') {
        expect(html, path).toContain(path);
      }
    }
    // The page's modules import only listed files.
    for (const path of [...assets.keys()].filter((p) => /^\/ui\/\w+\.js$/.test(p))) {
      const source = await (await app.request(path)).text();
      for (const [, imported] of source.matchAll(/from '\.\/([\w-]+\.js)'/g)) {
        expect(assets.has(`/ui/${imported}`), `${path} imports ${imported}`).toBe(true);
      }
    }
  });

  it('gzips the page’s files for a browser that asks, and keeps the headers', async () => {
    const res = await app.request('/ui/vendor/uPlot.iife.min.js', { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await app.request('/ui/app.js')).headers.get('content-encoding')).toBeNull();
  });

  it('answers 304 to a browser that has the file', async () => {
    const first = await app.request('/ui/app.js');
    const etag = first.headers.get('etag')!;
    expect((await app.request('/ui/app.js', { headers: { 'if-none-match': etag } })).status).toBe(304);
  });

  it('serves nothing off the list: no traversal, no sources, no other vendor file', async () => {
    for (const path of [
      '/ui/../package.json',
      '/ui/%2e%2e/package.json',
      '/ui/..%2fpackage.json',
      '/ui/..%2f..%2fpackage.json',
      '/ui/%2e%2e%2f%2e%2e%2fpackage.json',
      '/ui/vendor/../../package.json',
      '/ui/vendor/%2e%2e%2f%2e%2e%2fpackage.json',
      '/ui//etc/passwd',
      '/ui/assets.ts',
      '/ui/assets.js',
      '/ui/status.js',
      '/ui/index.html',
      '/ui/vendor/uPlot.cjs.js',
      '/ui/vendor/elk-worker.min.js',
      '/ui/',
      '/ui',
      '/index.html',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
    }
  });

  it('answers a JSON client at / with JSON, as before the page it got JSON', async () => {
    const res = await app.request('/', { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: '/api/status', routes: '/api/routes' });
  });
});

describe('what the status endpoints compute', () => {
  it('estimates quantiles from cumulative buckets like histogram_quantile', () => {
    const bounds = [0.01, 0.1, 1];
    expect(quantile(0.5, bounds, [0, 0, 0, 0])).toBeNull();
    // 10 below 10 ms, 10 between 10 and 100 ms: the median is the first bucket's top.
    expect(quantile(0.5, bounds, [10, 20, 20, 20])).toBeCloseTo(0.01);
    expect(quantile(0.75, bounds, [10, 20, 20, 20])).toBeCloseTo(0.055);
    // Past the last bound: the last bound, as PromQL answers.
    expect(quantile(0.99, bounds, [0, 0, 0, 5])).toBe(1);
  });

  it('shows a webhook as its origin: never the user-info, path or query', () => {
    expect(webhookOrigin('https://user:pa55@hooks.example.com:8443/p/a?token=t0k#x')).toBe(
      'https://hooks.example.com:8443',
    );
    expect(webhookOrigin('not a url')).toBe('(invalid URL)');
  });
});
