import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

const token = 'admin-api-token-51f0';
const auth = { authorization: `Bearer ${token}` };

describe('the admin API as `warren run` mounts it', () => {
  const h = useHarness();

  async function start(failing: { now: boolean }) {
    const exchange = uniqueName('admin-x');
    const queue = uniqueName('admin-q');
    h.receiver.responder = () => (failing.now ? 400 : 200);
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url('/orders')}" } }
`,
      },
      h.broker,
      { adminToken: token },
    );
    return { exchange, queue };
  }

  it('refuses every POST endpoint without the bearer token, and serves it with the token', async () => {
    await start({ now: false });
    const admin = h.warren!.admin;
    const posts = admin.routes.filter((r) => r.method === 'POST').map((r) => r.path);
    // Every mutating endpoint the README and issue 5 name is there (a new one is checked as well).
    expect(posts).toEqual(
      expect.arrayContaining([
        '/api/reload',
        '/api/routes/:name/pause',
        '/api/routes/:name/resume',
        '/api/dlq/:route/redrive',
      ]),
    );
    for (const path of posts) {
      const url = path.replace(':name', 'orders').replace(':route', 'orders');
      expect((await admin.request(url, { method: 'POST' })).status, `POST ${url}`).toBe(401);
      const wrong = { authorization: 'Bearer not-the-token' };
      expect((await admin.request(url, { method: 'POST', headers: wrong })).status, `POST ${url}`).toBe(401);
    }
    expect((await admin.request('/api/reload', { method: 'POST', headers: auth })).status).toBe(200);
    expect((await admin.request('/api/routes/nope/pause', { method: 'POST', headers: auth })).status).toBe(
      404,
    );
    // The read-only endpoints stay open to monitoring.
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/routes', '/api/routes/orders']) {
      expect((await admin.request(path)).status, path).toBe(200);
    }
  });

  it('peeks at and redrives the DLQ, and exports its depth as warren_dlq_messages', async () => {
    const failing = { now: true };
    const { exchange, queue } = await start(failing);
    const ids = ['a-1', 'a-2', 'a-3'];
    for (const id of ids)
      await h.broker.publish(exchange, 'order.created', `{"id":"${id}"}`, { messageId: id });
    await waitFor('three dead letters', async () => (await h.broker.depth(`${queue}.dlq`)) === 3);

    const peek = await h.warren!.admin.request('/api/dlq/orders?limit=10', { headers: auth });
    expect(peek.status).toBe(200);
    const body = (await peek.json()) as { messages: Array<{ messageId?: string; id?: string }> };
    expect(body.messages).toHaveLength(3);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(3);
    const metrics = await (await h.warren!.admin.request('/metrics')).text();
    expect(metrics).toContain('warren_dlq_messages{route="orders"} 3');

    failing.now = false;
    const sent = h.receiver.requests.length;
    const redrive = await h.warren!.admin.request('/api/dlq/orders/redrive', {
      method: 'POST',
      headers: auth,
    });
    expect(redrive.status).toBe(200);
    expect(await redrive.json()).toMatchObject({ route: 'orders', moved: 3 });
    await waitFor('the redriven messages delivered', () => h.receiver.requests.length >= sent + 3);
    await waitFor(
      'the route settled',
      async () =>
        (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes[0]!.inFlight === 0,
    );
    const redelivered = h.receiver.requests.slice(sent).map((r) => r.headers['webhook-id']);
    expect(redelivered.sort()).toEqual(ids);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });
});
