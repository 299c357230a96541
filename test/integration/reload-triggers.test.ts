import { randomBytes } from 'node:crypto';
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, spawnWarren, type WarrenProcess, waitReady } from '../helpers/cli.js';
import { accounting, type SteadyPublisher } from '../helpers/load.js';
import type { Receiver } from '../helpers/receiver.js';
import { startWarren, trackPlan, useHarness } from '../helpers/warren.js';

/** One webhook route on a topic exchange, plus a route on the same exchange that never changes. */
const routes = (exchange: string, queue: string, url: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    to: { webhook: { url: "${url}" } }
  bystander:
    from: { queue: ${queue}.bystander, bind: [{ exchange: ${exchange}, key: "other.#" }] }
    to: { webhook: { url: "http://127.0.0.1:9/never" } }
`;

/** Every webhook-id the receivers got, with repeats. */
const receivedIds = (...receivers: Receiver[]) =>
  receivers.flatMap((r) => r.requests.map((req) => String(req.headers['webhook-id'])));

/** Stops the publisher, waits until every id arrived somewhere, and says how many arrived twice. */
async function settleAccounts(publisher: SteadyPublisher, ...receivers: Receiver[]): Promise<number> {
  await publisher.stop();
  expect(publisher.published.length).toBeGreaterThan(0);
  await waitFor(
    'every published id at a receiver',
    () => accounting(publisher.published, receivedIds(...receivers)).lost.length === 0,
    10_000,
  );
  return accounting(publisher.published, receivedIds(...receivers)).duplicates;
}

/**
 * Projects files into `dir` the way the kubelet updates a ConfigMap volume: the files go into a new
 * `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed over `..data` (atomic), the
 * top-level names are symlinks through `..data`, and the previous timestamp directory is removed.
 */
async function projectConfigMap(dir: string, stamp: string, files: Record<string, string>): Promise<void> {
  const tsDir = `..${stamp}`;
  await mkdir(join(dir, tsDir));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, tsDir, name), text);
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(tsDir, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}

const reloadLines = (proc: WarrenProcess) => proc.lines.filter((l) => l.event === 'reload');

describe('reload triggers under load', () => {
  const h = useHarness();
  let first: Receiver;
  let second: Receiver;
  let exchange: string;
  let queue: string;
  let root: string;
  let routesDir: string;
  let pluginsDir: string;

  beforeEach(async () => {
    first = await h.receive();
    second = await h.receive();
    exchange = uniqueName('trig.x');
    queue = uniqueName('trig.q');
    root = await h.tempDir();
    routesDir = join(root, 'routes.d');
    pluginsDir = join(root, 'plugins');
    await mkdir(routesDir);
    await mkdir(pluginsDir);
  });

  const startPublisher = () => {
    const publisher = h.publisher(exchange, 'order.created', uniqueName('id'));
    publisher.start();
    return publisher;
  };

  /** The real CLI on routes.d and plugins, once ready; killed after the test if it still runs. */
  const startCli = async (env: NodeJS.ProcessEnv = {}): Promise<WarrenProcess> => {
    const proc = await spawnWarren({ routes: routesDir, plugins: pluginsDir, drainTimeout: '2s', env });
    h.defer(() => killCli(proc));
    await waitReady(proc);
    return proc;
  };

  describe('(f) a ConfigMap-style ..data symlink swap', () => {
    it('applies the projected files, then the swapped ones, with nothing lost and nothing twice', async () => {
      h.warren = await startWarren({}, h.broker, { watch: true });
      const dir = h.warren.dir;
      expect(h.warren.runtime.describe().routes).toEqual([]);

      // The kubelet's first projection: ..2026_11_29_1/r.yaml, ..data → it, r.yaml → ..data/r.yaml.
      await projectConfigMap(dir, '2026_11_29_1', { 'r.yaml': routes(exchange, queue, first.url()) });
      await trackPlan(h.broker, dir);
      // The route consumes before the reload that started it has finished and been reported.
      await waitFor(
        'the projected route consuming, its reload reported',
        () =>
          h.warren!.runtime.describe().routes.find((r) => r.name === 'orders' && r.state === 'consuming') &&
          h.warren!.runtime.lastReload?.trigger === 'watch',
      );
      expect(h.warren.runtime.lastReload).toMatchObject({ trigger: 'watch', result: 'applied' });

      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);
      const before = h.warren.runtime.describe();

      await projectConfigMap(dir, '2026_11_29_2', { 'r.yaml': routes(exchange, queue, second.url()) });
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);

      expect(await settleAccounts(pub, first, second)).toBe(0);
      const last = h.warren.runtime.lastReload!;
      expect(last).toMatchObject({ trigger: 'watch', result: 'applied', previousVersion: before.version });
      expect(last.version).not.toBe(before.version);
      expect(last.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
      const after = h.warren.runtime.describe();
      expect(after.version).toBe(last.version);
      expect(after.routes.find((r) => r.name === 'orders')?.target).toMatchObject({ url: second.url() });
      // The ConfigMap internals are never read as route files, and the old projection is gone.
      expect(await readlink(join(dir, '..data'))).toBe('..2026_11_29_2');
    });
  });

  describe('(g) SIGHUP to the real CLI', () => {
    it('applies an edited route file (the watcher may race it) with nothing lost and nothing twice', async () => {
      const file = join(routesDir, 'r.yaml');
      await writeFile(file, routes(exchange, queue, first.url()));
      await trackPlan(h.broker, routesDir);
      const proc = await startCli();
      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);

      await writeFile(file, routes(exchange, queue, second.url()));
      proc.child.kill('SIGHUP');
      await waitFor('a reload logged with trigger SIGHUP', () =>
        reloadLines(proc).find((l) => l.trigger === 'SIGHUP'),
      );
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);
      expect(proc.child.exitCode).toBeNull();
      expect(proc.child.signalCode).toBeNull();

      expect(await settleAccounts(pub, first, second)).toBe(0);
      // SIGHUP or the watcher applied it, exactly once; the other found nothing to do.
      const applied = reloadLines(proc).filter((l) => l.trigger !== 'start' && l.result === 'applied');
      expect(applied).toHaveLength(1);
      expect(applied[0]).toMatchObject({ routes: ['orders:handler'] });
      expect(['SIGHUP', 'watch']).toContain(applied[0]!.trigger);
    });

    it('re-reads a value interpolated from a file outside the watched directories, which only SIGHUP picks up', async () => {
      const urlFile = join(root, 'webhook-url');
      await writeFile(urlFile, `${first.url()}\n`);
      await writeFile(join(routesDir, 'r.yaml'), routes(exchange, queue, `\${file:${urlFile}}`));
      await trackPlan(h.broker, routesDir);
      const proc = await startCli();
      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);

      // A rotated secret: the route files are unchanged, so the content hash the watcher compares is too.
      await writeFile(urlFile, `${second.url()}\n`);
      proc.child.kill('SIGHUP');
      const line = await waitFor('an applied SIGHUP reload', () =>
        reloadLines(proc).find((l) => l.trigger === 'SIGHUP' && l.result === 'applied'),
      );
      expect(line.routes).toEqual(['orders:handler']);
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);
      expect(await settleAccounts(pub, first, second)).toBe(0);
      // The value came from outside the file: it is a secret and never logged.
      expect(JSON.stringify(proc.lines)).not.toContain(second.url());
    });
  });

  describe('(h) POST /api/reload', () => {
    it('without a token configured, an in-process request reloads and returns the per-route report', async () => {
      h.warren = await startWarren({ 'r.yaml': routes(exchange, queue, first.url()) }, h.broker);
      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);
      const before = h.warren.runtime.describe().version;

      await writeFile(join(h.warren.dir, 'r.yaml'), routes(exchange, queue, second.url()));
      const res = await h.warren.admin.request('/api/reload', { method: 'POST' });
      expect(res.status).toBe(200);
      const report = (await res.json()) as Record<string, unknown>;
      expect(report).toMatchObject({ trigger: 'api', result: 'applied', previousVersion: before });
      expect(report.version).not.toBe(before);
      // Only the changed route is in the report; the unchanged one is not touched.
      expect(report.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);

      const again = await h.warren.admin.request('/api/reload', { method: 'POST' });
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ trigger: 'api', result: 'unchanged', routes: [] });

      expect(await settleAccounts(pub, first, second)).toBe(0);
      const routesView = (await (await h.warren.admin.request('/api/routes')).json()) as {
        version: string;
        lastReload: { trigger: string; result: string };
      };
      expect(routesView.version).toBe(report.version);
      expect(routesView.lastReload).toMatchObject({ trigger: 'api', result: 'unchanged' });
    });

    it('with an admin token: 401 without or with a wrong bearer token (nothing reloaded), 200 with it', async () => {
      const token = randomBytes(16).toString('hex');
      h.warren = await startWarren({ 'r.yaml': routes(exchange, queue, first.url()) }, h.broker, {
        adminToken: token,
      });
      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);
      await writeFile(join(h.warren.dir, 'r.yaml'), routes(exchange, queue, second.url()));

      const refused: Array<Record<string, string>> = [
        {},
        { authorization: 'Bearer wrong' },
        { authorization: `Bearer ${token}x` },
        { authorization: `Bearer ${token.slice(0, -1)}` },
        { authorization: token },
        { authorization: `Basic ${token}` },
      ];
      for (const headers of refused) {
        const res = await h.warren.admin.request('/api/reload', { method: 'POST', headers });
        expect(res.status, JSON.stringify(headers)).toBe(401);
        expect(await res.json()).toHaveProperty('error');
      }
      expect(h.warren.runtime.lastReload?.trigger).toBe('start');

      const res = await h.warren.admin.request('/api/reload', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        trigger: 'api',
        result: 'applied',
        routes: [{ route: 'orders', change: 'handler', ok: true }],
      });
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);
      expect(await settleAccounts(pub, first, second)).toBe(0);
    });

    it('the real CLI with WARREN_ADMIN_TOKEN refuses a POST without the token over HTTP, accepts it with', async () => {
      const token = randomBytes(16).toString('hex');
      // The URL comes from a file outside the watched directories, so only the API can apply it.
      const urlFile = join(root, 'webhook-url');
      await writeFile(urlFile, first.url());
      await writeFile(join(routesDir, 'r.yaml'), routes(exchange, queue, `\${file:${urlFile}}`));
      await trackPlan(h.broker, routesDir);
      const proc = await startCli({ WARREN_ADMIN_TOKEN: token });
      const pub = startPublisher();
      await waitFor('traffic on the first receiver', () => first.requests.length > 20);
      await writeFile(urlFile, second.url());

      for (const authorization of [undefined, 'Bearer wrong']) {
        const res = await proc.admin('/api/reload', {
          method: 'POST',
          ...(authorization ? { headers: { authorization } } : {}),
        });
        expect(res.status).toBe(401);
      }
      const view = (await (await proc.admin('/api/routes')).json()) as { lastReload: { trigger: string } };
      expect(view.lastReload.trigger).toBe('start');

      const res = await proc.admin('/api/reload', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        trigger: 'api',
        result: 'applied',
        routes: [{ route: 'orders', change: 'handler', ok: true }],
      });
      await waitFor('traffic on the second receiver', () => second.requests.length > 20);
      expect(await settleAccounts(pub, first, second)).toBe(0);
      // Log lines arrive through a pipe: possibly after the HTTP answer.
      await waitFor('the api reload logged', () => reloadLines(proc).some((l) => l.trigger === 'api'));
      expect(reloadLines(proc).filter((l) => l.trigger === 'api')).toHaveLength(1);
    });
  });
});
