import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/broker.js';
import { killCli, repoRoot, spawnWarren } from '../helpers/cli.js';
import { useHarness } from '../helpers/warren.js';

/**
 * `warren run` as built (dist/, by `npm run build`, which npm test runs first) serves the status
 * page: tsc does not copy the page's HTML, CSS and browser modules, the build's copy step does.
 */
describe('the built warren', () => {
  const h = useHarness();

  it('serves the status page and its files from dist/', async () => {
    const routes = await h.routesDir({ 'r.yaml': 'exchanges:\n  unused: { type: topic }\n' });
    // No broker needed: the admin port answers before the first connection.
    const warren = await spawnWarren({ routes, amqp: 'amqp://guest:guest@127.0.0.1:1' });
    h.defer(() => killCli(warren));
    await waitFor('the admin port', async () => (await warren.admin('/healthz')).ok);
    const page = await warren.admin('/', { headers: { accept: 'text/html' } });
    // A dist/ built by bare tsc answers 500 and says to run `npm run build`.
    expect(page.status, await page.clone().text()).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toBe(await readFile(`${repoRoot}src/ui/index.html`, 'utf8'));
    for (const file of ['app.js', 'style.css', 'detail.js']) {
      const res = await warren.admin(`/ui/${file}`);
      expect(res.status, file).toBe(200);
      expect(await res.text(), file).toBe(await readFile(`${repoRoot}src/ui/${file}`, 'utf8'));
    }
    expect((await warren.admin('/ui/vendor/elk.bundled.js')).status).toBe(200);
    expect((await warren.admin('/api/status')).status).toBe(200);
  });
});
