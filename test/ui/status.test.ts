import { describe, expect, it } from 'vitest';
import { reloadHistory } from '../../src/runtime/runtime.js';
import type { StatusView } from '../../src/ui/status.js';
import type { TopologyView } from '../../src/ui/topology.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/** GET /api/status and GET /api/topology, what the status page polls, against a real broker. */

describe('the status endpoints', () => {
  const h = useHarness();

  it('count each route’s outcomes, its DLQ and its handler time; show webhooks by origin only', async () => {
    const exchange = uniqueName('status-x');
    const queue = uniqueName('status-q');
    const secret = 'q-secret-4be1';
    h.receiver.responder = (req) => (req.body.includes('bad') ? 400 : 200);
    const [user, port] = ['hook-user', h.receiver.port];
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  status-orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    when: { routingKey: ["order.created"] }
    to: { webhook: { url: "http://${user}:\${env:STATUS_PW}@127.0.0.1:${port}/hook?token=\${env:STATUS_PW}" } }
`,
      },
      h.broker,
      { env: { ...process.env, STATUS_PW: secret } },
    );
    for (const body of ['ok-1', 'ok-2', 'bad-1']) await h.broker.publish(exchange, 'order.created', body);
    await h.broker.publish(exchange, 'order.paid', 'skipped');

    const status = async () => (await (await h.warren!.admin.request('/api/status')).json()) as StatusView;
    const route = await waitFor('the outcomes and the dead letter', async () => {
      const r = (await status()).routes[0]!;
      return r.counts?.ack === 2 && r.counts?.dead_letter === 1 && r.counts?.filtered === 1 && r.dlq === 1
        ? r
        : undefined;
    });
    expect(route).toMatchObject({ name: 'status-orders', state: 'consuming', inFlight: 0, waiting: 0 });
    expect(route.paused).toBeUndefined(); // a field with nothing to say is left out
    expect(route.p50).toBeGreaterThan(0);
    expect(route.p99).toBeGreaterThanOrEqual(route.p50!);
    const view = await status();
    expect(route.buckets?.at(-1)).toBe(4); // every delivery, filtered ones included, was timed
    expect(view).toMatchObject({ connected: true, ready: true, version: h.warren.runtime.plan.version });
    expect(view.reloads[0]).toMatchObject({ trigger: 'start', result: 'applied' });

    const topology = (await (await h.warren.admin.request('/api/topology')).json()) as TopologyView;
    const text = JSON.stringify(topology);
    expect(topology.nodes).toContainEqual({
      id: `webhook:http://127.0.0.1:${port}`,
      kind: 'webhook',
      label: `http://127.0.0.1:${port}`,
    });
    expect(topology.edges).toContainEqual({
      from: `exchange:${exchange}`,
      to: `queue:${queue}`,
      label: 'order.#',
    });
    expect(text).not.toContain(secret);
    expect(text).not.toContain(user);
    expect(text).not.toContain('/hook');
  });

  it(`keeps the last ${reloadHistory} reloads, newest first`, async () => {
    const exchange = uniqueName('status-reloads');
    h.warren = await startWarren({ 'r.yaml': `exchanges: { ${exchange}: { type: topic } }\n` }, h.broker);
    for (let i = 0; i < reloadHistory + 2; i++) await h.warren.reloader.reload(`test-${i}`);
    const view = (await (await h.warren.admin.request('/api/status')).json()) as StatusView;
    expect(view.reloads.map((r) => r.trigger)).toEqual(
      Array.from({ length: reloadHistory }, (_, i) => `test-${reloadHistory + 1 - i}`),
    );
  });
});
