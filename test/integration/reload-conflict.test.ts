import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { planTopology, type RoutePlan, retryTierQueue } from '../../src/topology/plan.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { accounting, type SteadyPublisher } from '../helpers/load.js';
import { sample } from '../helpers/metrics.js';
import type { Receiver } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

interface RouteView {
  name: string;
  state: string;
  queue: string;
  fingerprint: string;
  target: { url?: string };
  pending?: { fingerprint: string; error: { code: string; message: string } };
}

interface ReportView {
  trigger: string;
  result: string;
  version: string;
  previousVersion: string;
  routes: Array<{ route: string; change: string; ok: boolean; error?: { code: string; message: string } }>;
}

/** `keeper` (its queue is what changes) and `other` (its webhook URL changes), on one exchange. */
const routes = (x: string, keeperQueue: string, keeperUrl: string, otherQueue: string, otherUrl: string) => `
exchanges: { ${x}: { type: topic } }
routes:
  keeper:
    from: { queue: ${keeperQueue}, bind: [{ exchange: ${x}, key: "keep.#" }] }
    to: { webhook: { url: "${keeperUrl}" } }
  other:
    from: { queue: ${otherQueue}, bind: [{ exchange: ${x}, key: "other.#" }] }
    to: { webhook: { url: "${otherUrl}" } }
`;

const ids = (...receivers: Receiver[]) =>
  receivers.flatMap((r) => r.requests.map((req) => String(req.headers['webhook-id'])));

/** A counter's value, 0 before its first increment. */
const count = (text: string, name: string, labels: Record<string, string> = {}): number =>
  sample(text, name, labels) ?? 0;

async function metrics(admin: Hono): Promise<string> {
  const res = await admin.request('/metrics');
  expect(res.status).toBe(200);
  return res.text();
}

async function routeViews(admin: Hono): Promise<Map<string, RouteView>> {
  const body = (await (await admin.request('/api/routes')).json()) as { routes: RouteView[] };
  return new Map(body.routes.map((r) => [r.name, r]));
}

async function postReload(admin: Hono): Promise<{ status: number; report: ReportView }> {
  const res = await admin.request('/api/reload', { method: 'POST' });
  return { status: res.status, report: (await res.json()) as ReportView };
}

async function planOf(dir: string, route: string): Promise<RoutePlan> {
  const loaded = await loadConfig(dir, process.env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return planTopology(loaded.config).routes.find((r) => r.name === route)!;
}

describe('a reload that conflicts (406) on one route, under load', () => {
  const h = useHarness();
  let keeperReceiver: Receiver;
  let otherFirst: Receiver;
  let otherSecond: Receiver;
  let publishers: SteadyPublisher[];
  let x: string;

  beforeEach(async () => {
    keeperReceiver = await h.receive();
    otherFirst = await h.receive();
    otherSecond = await h.receive();
    x = uniqueName('conflict.reload.x');
    publishers = [];
  });

  const publish = (key: string) => {
    const p = h.publisher(x, key, uniqueName(key), { everyMs: 10, perTick: 1 });
    p.start();
    publishers.push(p);
    return p;
  };

  it('keeps the old version of the conflicting route running, applies the other, then retries', async () => {
    const oldQueue = uniqueName('conflict.reload.old');
    const classic = uniqueName('conflict.reload.classic');
    const otherQueue = uniqueName('conflict.reload.other');
    // Left behind by someone else: a classic queue where the route's new version wants a quorum one.
    await h.broker.channel.assertQueue(classic, { durable: true });
    h.broker.track('queue', classic);

    h.warren = await startWarren(
      { 'r.yaml': routes(x, oldQueue, keeperReceiver.url(), otherQueue, otherFirst.url()) },
      h.broker,
    );
    const keep = publish('keep.1');
    const other = publish('other.1');
    await waitFor('traffic to keeper', () => keeperReceiver.requests.length > 20);
    await waitFor('traffic to other', () => otherFirst.requests.length > 20);
    const oldKeeper = (await routeViews(h.warren.admin)).get('keeper')!;
    const before = await metrics(h.warren.admin);

    // keeper moves to the classic queue (a 406 for a quorum declaration); other moves to a new URL.
    await writeFile(
      join(h.warren.dir, 'r.yaml'),
      routes(x, classic, keeperReceiver.url(), otherQueue, otherSecond.url()),
    );
    const newKeeper = await planOf(h.warren.dir, 'keeper');
    h.broker.track('queue', ...newKeeper.queues.map((q) => q.name));
    const newKeeperFingerprint = newKeeper.fingerprint;
    const first = await postReload(h.warren.admin);
    expect(first.status).toBe(422);
    expect(first.report).toMatchObject({ trigger: 'api', result: 'partial' });
    expect(first.report.version).not.toBe(first.report.previousVersion);
    expect(first.report.routes).toEqual([
      {
        route: 'keeper',
        change: 'source',
        ok: false,
        error: { code: 'WARREN_E_TOPOLOGY_CONFLICT', message: expect.stringContaining(classic) },
      },
      { route: 'other', change: 'handler', ok: true },
    ]);

    // keeper still consumes its old queue with its old version; the new one waits as `pending`.
    const sent = keeperReceiver.requests.length;
    await waitFor(
      'keeper still delivering after the refused change',
      () => keeperReceiver.requests.length > sent + 20,
    );
    await waitFor('other on its new URL', () => otherSecond.requests.length > 20);
    const views = await routeViews(h.warren.admin);
    const keeper = views.get('keeper')!;
    expect(keeper).toMatchObject({ state: 'consuming', queue: oldQueue, fingerprint: oldKeeper.fingerprint });
    expect(keeper.pending?.fingerprint).toBe(newKeeperFingerprint);
    expect(keeper.pending?.error.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');
    expect(views.get('other')).toMatchObject({ state: 'consuming', target: { url: otherSecond.url() } });
    expect(views.get('other')?.pending).toBeUndefined();
    expect(h.warren.runtime.describe().lastReload).toMatchObject({
      result: 'partial',
      version: first.report.version,
    });
    // Nothing was bound to the refused queue: it still holds nothing and is still classic.
    expect(await h.broker.depth(classic)).toBe(0);

    const after = await metrics(h.warren.admin);
    expect(count(after, 'warren_reload_total', { result: 'partial' })).toBe(
      count(before, 'warren_reload_total', { result: 'partial' }) + 1,
    );
    expect(count(after, 'warren_reload_duration_seconds_count')).toBe(
      count(before, 'warren_reload_duration_seconds_count') + 1,
    );
    expect(count(after, 'warren_config_info', { version: first.report.version })).toBe(1);
    expect(count(after, 'warren_config_info', { version: first.report.previousVersion })).toBe(0);

    // The conflict goes away; the next reload (no file changed) moves keeper to its new version.
    await h.broker.channel.deleteQueue(classic);
    const second = await postReload(h.warren.admin);
    expect(second.status).toBe(200);
    expect(second.report).toMatchObject({ result: 'applied', version: first.report.version });
    expect(second.report.routes).toEqual([{ route: 'keeper', change: 'source', ok: true }]);
    const moved = (await routeViews(h.warren.admin)).get('keeper')!;
    expect(moved).toMatchObject({ state: 'consuming', queue: classic, fingerprint: newKeeperFingerprint });
    expect(moved.pending).toBeUndefined();
    const movedAt = keeperReceiver.requests.length;
    await waitFor(
      'keeper delivering from its new queue',
      () => keeperReceiver.requests.length > movedAt + 20,
    );
    expect(count(await metrics(h.warren.admin), 'warren_reload_total', { result: 'applied' })).toBe(
      count(after, 'warren_reload_total', { result: 'applied' }) + 1,
    );

    for (const p of publishers) await p.stop();
    // keeper changed its source: anything left in the old queue is kept there, never dropped.
    await waitFor('every keeper id delivered or kept in the old queue', async () => {
      const left = (await h.broker.depth(oldQueue)) === 0 ? [] : await h.broker.peekIds(oldQueue);
      return accounting(keep.published, ids(keeperReceiver), left).lost.length === 0;
    });
    // other changed only its handler: each id exactly once.
    await waitFor(
      'every other id delivered',
      () => accounting(other.published, ids(otherFirst, otherSecond)).lost.length === 0,
    );
    expect(accounting(other.published, ids(otherFirst, otherSecond)).duplicates).toBe(0);
  });

  it('a handler change refused by a 406 on its new retry tier keeps the old handler, with nothing twice', async () => {
    const queue = uniqueName('conflict.reload.tier');
    const tier = retryTierQueue(queue, 7_000);
    const file = (url: string, retry: string) => `
exchanges: { ${x}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${x}, key: "order.#" }] }
    to: { webhook: { url: "${url}" } }
${retry}
`;
    // The new version's delay tier exists already as a classic queue with another TTL.
    await h.broker.channel.assertQueue(tier, { durable: true, arguments: { 'x-message-ttl': 1 } });
    h.broker.track('queue', tier);
    h.warren = await startWarren({ 'r.yaml': file(otherFirst.url(), '') }, h.broker);
    const pub = publish('order.created');
    await waitFor('traffic on the first URL', () => otherFirst.requests.length > 20);

    await writeFile(
      join(h.warren.dir, 'r.yaml'),
      file(otherSecond.url(), '    retry: { attempts: 3, backoff: [7s] }'),
    );
    const refused = await postReload(h.warren.admin);
    expect(refused.status).toBe(422);
    expect(refused.report.result).toBe('partial');
    expect(refused.report.routes).toEqual([
      {
        route: 'orders',
        change: 'handler',
        ok: false,
        error: { code: 'WARREN_E_TOPOLOGY_CONFLICT', message: expect.stringContaining(tier) },
      },
    ]);
    const sent = otherFirst.requests.length;
    await waitFor('the old handler still delivering', () => otherFirst.requests.length > sent + 20);
    expect(otherSecond.requests).toHaveLength(0);
    const view = (await routeViews(h.warren.admin)).get('orders')!;
    expect(view).toMatchObject({ state: 'consuming', target: { url: otherFirst.url() } });
    expect(view.pending?.error.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');

    await h.broker.channel.deleteQueue(tier);
    const applied = await postReload(h.warren.admin);
    expect(applied.status).toBe(200);
    expect(applied.report.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
    await waitFor('traffic on the second URL', () => otherSecond.requests.length > 20);
    expect((await routeViews(h.warren.admin)).get('orders')?.pending).toBeUndefined();

    await pub.stop();
    await waitFor(
      'every id delivered',
      () => accounting(pub.published, ids(otherFirst, otherSecond)).lost.length === 0,
    );
    expect(accounting(pub.published, ids(otherFirst, otherSecond)).duplicates).toBe(0);
  });
});
