import amqp, { type ChannelModel } from 'amqplib';
import type { Hono } from 'hono';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { requireAdmin } from '../../src/admin/auth.js';
import { createDlqRoutes } from '../../src/admin/dlq-routes.js';
import { queueDepthsOn, registerDlqGauge } from '../../src/dlq/gauge.js';
import { peekQueue } from '../../src/dlq/peek.js';
import type { PeekReport } from '../../src/dlq/print.js';
import { amqpUrl, uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

type PeekBody = PeekReport;

describe('dead-letter queue tools', () => {
  const h = useHarness();
  /** The tools' connections: what the admin app gets from Warren's runtime, opened by the test here. */
  let consume: ChannelModel;
  let publish: ChannelModel;
  /** Receiver: 400 while failing (every message is dead-lettered at once), else 200 and recorded. */
  let failing: boolean;
  let delivered: Array<{ id: string; attempt: string; exchange: string; routingKey: string }>;

  beforeEach(async () => {
    // The tools' own two connections, as `warren dlq` opens them (not Warren's, not the harness's).
    consume = await amqp.connect(amqpUrl);
    publish = await amqp.connect(amqpUrl);
    h.defer(() => Promise.allSettled([consume.close(), publish.close()]));
    failing = true;
    delivered = [];
    h.receiver.responder = (req) => {
      if (failing) return 400;
      delivered.push({
        id: String(req.headers['webhook-id']),
        attempt: String(req.headers['x-warren-attempt']),
        exchange: String(req.headers['x-warren-exchange']),
        routingKey: String(req.headers['x-warren-routing-key']),
      });
      return 200;
    };
  });

  /** The DLQ sub-app as the admin app mounts it, on the running Warren's routes. */
  function dlqApp(
    token?: string,
    route?: (name: string) => { name: string; queue: string; deadLetterQueue: string } | undefined,
  ): Hono {
    return createDlqRoutes({
      route: route ?? ((name) => h.warren?.runtime.plan.routes.find((r) => r.name === name)),
      connections: () => ({ consume, publish }),
      requireAdmin: requireAdmin(token, () => true),
    });
  }

  /**
   * A running Warren with one webhook route, and `n` messages it dead-lettered (the receiver said
   * 400), each with its own message-id and routing key.
   */
  async function deadLettered(n: number) {
    const exchange = uniqueName('dlq.events');
    const queue = uniqueName('dlq.orders');
    const dlq = `${queue}.dlq`;
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    concurrency: 1 # one at a time: the DLQ gets the messages in the order they were published
    to: { webhook: { url: "${h.receiver.url()}", timeout: 2s } }
`,
      },
      h.broker,
    );
    const ids = Array.from({ length: n }, (_, i) => `${queue}-m${i + 1}`);
    for (const [i, id] of ids.entries()) {
      await h.broker.publish(exchange, `order.created.${i + 1}`, JSON.stringify({ n: i + 1 }), {
        messageId: id,
        contentType: 'application/json',
        headers: { tenant: 'acme' },
      });
    }
    await waitFor('every message in the DLQ', async () => (await h.broker.depth(dlq)) === n);
    await waitFor(
      'the source queue to be settled',
      async () =>
        (await h.broker.depth(queue)) === 0 &&
        h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0),
    );
    return { exchange, queue, dlq, ids };
  }

  /**
   * A DLQ holding messages a..e for route `orders`, whose source queue takes only `room` messages
   * and then rejects publishes (x-overflow reject-publish): a redrive's later copies are nacked.
   */
  async function refusingSource(room: number) {
    const dlq = uniqueName('dlq.refused.dlq');
    const source = uniqueName('dlq.refused');
    h.broker.track('queue', dlq, source);
    const ch = await h.broker.connection.createChannel();
    await ch.assertQueue(dlq, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue(source, {
      durable: true,
      arguments: { 'x-max-length': room, 'x-overflow': 'reject-publish' },
    });
    await ch.close();
    const ids = ['a', 'b', 'c', 'd', 'e'];
    for (const id of ids) await h.broker.publish('', dlq, id, { messageId: id });
    const app = dlqApp(undefined, (name) =>
      name === 'orders' ? { name, queue: source, deadLetterQueue: dlq } : undefined,
    );
    return { dlq, source, ids, app };
  }

  async function peek(app: Hono, query = ''): Promise<PeekBody> {
    const res = await app.request(`/api/dlq/orders${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as PeekBody;
  }

  it('peeks at the DLQ with the annotations and leaves every message where it was, in order', async () => {
    const { exchange, queue, dlq, ids } = await deadLettered(5);
    const app = dlqApp();

    const first = await peek(app);
    expect(await h.broker.depth(dlq)).toBe(5);
    expect(first).toMatchObject({ route: 'orders', queue: dlq, source: queue, total: 5, limit: 20 });
    expect(first.messages.map((m) => m.messageId)).toEqual(ids);
    expect(first.messages[0]).toMatchObject({
      position: 1,
      route: 'orders',
      error: expect.stringMatching(/^HTTP 400: failure 400/),
      status: 400,
      attempts: 1,
      failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      exchange,
      routingKey: 'order.created.1',
      contentType: 'application/json',
      size: 7,
      body: '{"n":1}',
      bodyEncoding: 'utf8',
      truncated: false,
      headers: expect.objectContaining({ tenant: 'acme' }),
    });
    expect(Date.now() - Date.parse(first.messages[0]!.failedAt!)).toBeLessThan(60_000);

    const again = await peek(app, '?limit=2');
    expect(again).toMatchObject({ total: 5, limit: 2 });
    expect(again.messages.map((m) => m.messageId)).toEqual(ids.slice(0, 2));
    expect(await h.broker.depth(dlq)).toBe(5);
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(ids);
  });

  it('redrives every message back through the route exactly once, as a first attempt, and empties the DLQ', async () => {
    const { exchange, queue, dlq, ids } = await deadLettered(5);
    const app = dlqApp();
    await peek(app); // a peek before the redrive changes nothing about it
    failing = false;

    const res = await app.request('/api/dlq/orders/redrive', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ route: 'orders', from: dlq, to: queue, requested: 5, moved: 5 });

    await waitFor('every message delivered', () => delivered.length >= 5);
    await waitFor(
      'the source queue to be settled',
      async () =>
        (await h.broker.depth(queue)) === 0 &&
        h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0),
    );
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up
    expect(delivered.map((d) => d.id).sort()).toEqual([...ids].sort());
    for (const [i, id] of ids.entries()) {
      expect(delivered.find((d) => d.id === id)).toEqual({
        id,
        attempt: '1',
        exchange,
        routingKey: `order.created.${i + 1}`,
      });
    }
    expect(await h.broker.depth(dlq)).toBe(0);
  });

  it('redrives only the first N with ?limit=N and leaves the rest in order', async () => {
    const { dlq, ids } = await deadLettered(5);
    const app = dlqApp();
    failing = false;

    const res = await app.request('/api/dlq/orders/redrive?limit=2', { method: 'POST' });
    expect(await res.json()).toMatchObject({ requested: 2, moved: 2 });
    await waitFor('two messages delivered', () => delivered.length >= 2);
    expect(delivered.map((d) => d.id).sort()).toEqual(ids.slice(0, 2).sort());
    expect(await h.broker.depth(dlq)).toBe(3);
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(ids.slice(2));
  });

  it('stops at a copy the broker refuses and loses nothing: the rest stay in the DLQ, in order', async () => {
    // A full source queue that rejects publishes: the third copy is nacked.
    const { dlq, source, app } = await refusingSource(2);

    const res = await app.request('/api/dlq/orders/redrive', { method: 'POST' });
    expect(res.status).toBe(502);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      code: 'WARREN_E_PUBLISH_FAILED',
      moved: 2,
      requested: 5,
      from: dlq,
      to: source,
    });
    expect(body.error).toMatch(/stopped after 2 of 5 messages: broker nacked the publish/);
    expect(await h.broker.depth(source)).toBe(2);
    expect(await h.broker.depth(dlq)).toBe(3);
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(['c', 'd', 'e']);
  });

  it('keeps the DLQ in order when a redrive stops after a peek handed messages back', async () => {
    const { dlq, ids, app } = await refusingSource(1);
    // The peek hands all five back: from then on the queue serves them as returned messages.
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(ids);

    const res = await app.request('/api/dlq/orders/redrive?limit=2', { method: 'POST' });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ moved: 1, requested: 2 });
    expect(await h.broker.depth(dlq)).toBe(4);
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(['b', 'c', 'd', 'e']);
    expect((await peek(app, '?limit=1')).messages.map((m) => m.messageId)).toEqual(['b']);
    expect((await peek(app)).messages.map((m) => m.messageId)).toEqual(['b', 'c', 'd', 'e']);
  });

  it('keeps a long DLQ whole and in order through peeks of different sizes and a partial redrive', async () => {
    const dlq = uniqueName('dlq.long.dlq');
    const source = uniqueName('dlq.long');
    h.broker.track('queue', dlq, source);
    const ch = await h.broker.connection.createChannel();
    for (const queue of [dlq, source])
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.close();
    const ids = Array.from({ length: 1000 }, (_, i) => `m${String(i).padStart(4, '0')}`);
    for (const id of ids)
      h.broker.channel.publish('', dlq, Buffer.from(id), { persistent: true, messageId: id });
    await h.broker.channel.waitForConfirms();
    const app = dlqApp(undefined, (name) =>
      name === 'orders' ? { name, queue: source, deadLetterQueue: dlq } : undefined,
    );
    const counter = await h.broker.connection.createChannel();
    /** Peeks, and checks that every message is back in the DLQ the moment the peek is done. */
    const shown = async (limit: number) => {
      const { messages } = await peekQueue(consume, dlq, limit);
      expect((await counter.checkQueue(dlq)).messageCount, `right after a peek of ${limit}`).toBe(ids.length);
      return messages.map((m) => m.messageId);
    };

    expect(await shown(1000)).toEqual(ids);
    // A short peek after a long one must not put its messages behind the rest of the long one's.
    expect(await shown(10)).toEqual(ids.slice(0, 10));
    expect(await shown(3)).toEqual(ids.slice(0, 3));
    expect(await shown(1000)).toEqual(ids);
    const res = await app.request('/api/dlq/orders/redrive?limit=300', { method: 'POST' });
    expect(await res.json()).toMatchObject({ requested: 300, moved: 300 });
    expect(await h.broker.depth(dlq)).toBe(700);
    expect((await peek(app, '?limit=1000')).messages.map((m) => m.messageId)).toEqual(ids.slice(300));
    expect((await h.broker.drain(source)).map((m) => m.properties.messageId)).toEqual(ids.slice(0, 300));
    await counter.close();
  });

  it('needs the admin token for both endpoints when one is configured', async () => {
    const { dlq } = await deadLettered(1);
    const app = dlqApp('s3cret-token');

    expect((await app.request('/api/dlq/orders/redrive', { method: 'POST' })).status).toBe(401);
    const wrong = { method: 'POST', headers: { authorization: 'Bearer nope' } };
    expect((await app.request('/api/dlq/orders/redrive', wrong)).status).toBe(401);
    expect((await app.request('/api/dlq/orders')).status).toBe(401);
    expect(await h.broker.depth(dlq)).toBe(1);

    const auth = { authorization: 'Bearer s3cret-token' };
    expect((await app.request('/api/dlq/orders', { headers: auth })).status).toBe(200);
    failing = false;
    const res = await app.request('/api/dlq/orders/redrive', { method: 'POST', headers: auth });
    expect(await res.json()).toMatchObject({ moved: 1 });
  });

  it('answers 404 for an unknown route, 400 for a bad limit and 503 without a broker connection', async () => {
    await deadLettered(1);
    const app = dlqApp();
    expect((await app.request('/api/dlq/nope')).status).toBe(404);
    expect((await app.request('/api/dlq/nope/redrive', { method: 'POST' })).status).toBe(404);
    for (const limit of ['0', '1001', 'x']) {
      const res = await app.request(`/api/dlq/orders?limit=${limit}`);
      expect(res.status, limit).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'WARREN_E_USAGE' });
    }
    expect((await app.request('/api/dlq/orders/redrive?limit=-2', { method: 'POST' })).status).toBe(400);

    const offline = createDlqRoutes({
      route: (name) => h.warren?.runtime.plan.routes.find((r) => r.name === name),
      connections: () => undefined,
      requireAdmin: requireAdmin(undefined, () => true),
    });
    expect((await offline.request('/api/dlq/orders')).status).toBe(503);
  });

  it("exports each route's DLQ depth as warren_dlq_messages, cached between scrapes", async () => {
    const { dlq } = await deadLettered(2);
    const registry = new Registry();
    const source = {
      routes: () => h.warren!.runtime.plan.routes,
      depths: queueDepthsOn(() => consume),
    };
    registerDlqGauge(source, { registry, cacheMs: 60_000 });
    expect(await registry.metrics()).toContain('warren_dlq_messages{route="orders"} 2');

    await h.broker.publish('', dlq, 'one more');
    expect(await registry.metrics()).toContain('warren_dlq_messages{route="orders"} 2'); // cached

    const fresh = new Registry();
    registerDlqGauge(source, { registry: fresh, cacheMs: 0 });
    expect(await fresh.metrics()).toContain('warren_dlq_messages{route="orders"} 3');
  });
});
