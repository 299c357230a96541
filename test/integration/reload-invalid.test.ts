import { beforeEach, describe, expect, it } from 'vitest';
import type { ReloadReport } from '../../src/runtime/report.js';
import type { RouteDescription } from '../../src/runtime/runtime.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { accounting } from '../helpers/load.js';
import type { Receiver } from '../helpers/receiver.js';
import { nextReload, replaceFile, startWarren, useHarness } from '../helpers/warren.js';

/** 1-based line of the first line of `text` containing `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  expect(index).toBeGreaterThanOrEqual(0);
  return index + 1;
}

interface RoutesView {
  version: string;
  routes: RouteDescription[];
  lastReload?: ReloadReport;
}

describe('hot reload of an invalid configuration', () => {
  const h = useHarness();
  let first: Receiver;
  let second: Receiver;

  beforeEach(async () => {
    first = await h.receive();
    second = await h.receive();
  });

  const invalidReloads = async (): Promise<number> => {
    const text = await (await h.warren!.admin.request('/metrics')).text();
    const match = /^warren_reload_total\{result="invalid"\} (\d+(?:\.\d+)?)$/m.exec(text);
    return match ? Number(match[1]) : 0;
  };

  const apiRoutes = async (): Promise<RoutesView> => {
    const res = await h.warren!.admin.request('/api/routes');
    expect(res.status).toBe(200);
    return (await res.json()) as RoutesView;
  };

  it('(e) keeps the running route on an unknown key and on broken YAML, then applies the fix', async () => {
    const exchange = uniqueName('reload.inv');
    const queue = uniqueName('reload.inv.q');
    const routes = (url: string, extra = '') => `exchanges: { ${exchange}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    to: { webhook: { url: "${url}" } }${extra}
`;
    h.warren = await startWarren({ 'r.yaml': routes(first.url()) }, h.broker, { watch: true });
    const load = h.publisher(exchange, 'order.created', 'e');
    load.start();
    await waitFor('traffic', () => first.requests.length > 20);
    const running = await apiRoutes();
    const invalidBefore = await invalidReloads();

    // 1. A misspelt key, in a version that would move the route to the second receiver.
    const misspelt = routes(second.url(), '\n    prefech: 5');
    let previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', misspelt);
    let report = await nextReload(h.warren, previous);
    expect(report.result).toBe('invalid');
    expect(report.issues!.join('\n')).toMatch(new RegExp(`r\\.yaml:${lineOf(misspelt, 'prefech')}:\\d+ `));
    expect(await invalidReloads()).toBeGreaterThanOrEqual(invalidBefore + 1);
    let shown = await apiRoutes();
    expect(shown.version).toBe(running.version);
    expect(shown.routes.map((r) => [r.name, r.fingerprint, r.state])).toEqual([
      ['orders', running.routes[0]!.fingerprint, 'consuming'],
    ]);
    expect(shown.routes[0]!.target).toMatchObject({ url: first.url() });
    expect(shown.lastReload).toMatchObject({ result: 'invalid' });
    let seen = first.requests.length;
    await waitFor('the old route to keep delivering', () => first.requests.length > seen + 20);

    // 2. A YAML syntax error.
    const broken = routes(second.url()).replace('bind: [{', 'bind: [{{');
    previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', broken);
    report = await nextReload(h.warren, previous);
    expect(report.result).toBe('invalid');
    expect(report.issues!.join('\n')).toMatch(new RegExp(`r\\.yaml:${lineOf(broken, 'bind: [{{')}:\\d+ `));
    expect(await invalidReloads()).toBeGreaterThanOrEqual(invalidBefore + 2);
    shown = await apiRoutes();
    expect(shown.version).toBe(running.version);
    expect(shown.routes[0]!.fingerprint).toBe(running.routes[0]!.fingerprint);
    seen = first.requests.length;
    await waitFor('the old route to keep delivering', () => first.requests.length > seen + 20);
    expect(second.requests).toEqual([]);

    // 3. The fix: the new version is applied.
    previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', routes(second.url()));
    report = await nextReload(h.warren, previous);
    expect(report).toMatchObject({ trigger: 'watch', result: 'applied', previousVersion: running.version });
    expect(report.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
    await waitFor('traffic on the second receiver', () => second.requests.length > 20);
    await load.stop();

    const received = () =>
      [...first.requests, ...second.requests].map((r) => String(r.headers['webhook-id']));
    await waitFor('every message delivered', () => accounting(load.published, received()).lost.length === 0);
    expect(accounting(load.published, received()).duplicates).toBe(0);
    shown = await apiRoutes();
    expect(shown.version).not.toBe(running.version);
    expect(shown.routes[0]!.target).toMatchObject({ url: second.url() });
    expect(shown.lastReload).toMatchObject({ result: 'applied' });
  });
});
