import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import type { FaultProxy } from '../helpers/proxy.js';
import { startWarren, useHarness } from '../helpers/warren.js';

interface Death {
  reason?: string;
  queue?: string;
  count?: number;
}

describe('the poison guard (x-delivery-limit)', () => {
  const h = useHarness();
  let proxy: FaultProxy;

  beforeEach(async () => {
    proxy = await h.proxy();
  });

  it('dead-letters a message whose channel closes before every ack, and keeps running', async () => {
    const queue = uniqueName('poison');
    const deliveryLimit = 2;
    const poisonId = `poison-${queue}`;
    // Every request for the poison message loses Warren's broker connections before the answer,
    // so the ack can never reach the broker and the delivery is requeued.
    h.receiver.responder = (req) => {
      if (req.headers['webhook-id'] === poisonId) proxy.cut();
      return 200;
    };
    h.warren = await startWarren(
      {
        'routes.yaml': `
routes:
  poison:
    from: { queue: ${queue} }
    deliveryLimit: ${deliveryLimit}
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
      { url: proxy.url() },
    );
    const connectionsBefore = proxy.connections;
    await h.broker.publish('', queue, '{"poison":true}', { messageId: poisonId });

    const [dead] = await waitFor('the message in the DLQ', async () => {
      const got = await h.broker.drain(`${queue}.dlq`);
      return got.length > 0 ? got : undefined;
    });
    expect(dead!.properties.messageId).toBe(poisonId);
    expect(dead!.content.toString()).toBe('{"poison":true}');
    const headers = (dead!.properties.headers ?? {}) as Record<string, unknown>;
    const deaths = (headers['x-death'] ?? []) as Death[];
    const reason = deaths[0]?.reason ?? String(headers['x-first-death-reason']);
    expect(reason).toBe('delivery_limit');
    expect(deaths[0]?.queue ?? String(headers['x-first-death-queue'])).toBe(queue);

    // The first delivery plus `deliveryLimit` redeliveries, each of them a lost channel.
    const poisonRequests = h.receiver.requests.filter((r) => r.headers['webhook-id'] === poisonId);
    expect(poisonRequests).toHaveLength(deliveryLimit + 1);
    expect(poisonRequests.map((r) => r.headers['x-warren-redelivered'])).toEqual(['false', 'true', 'true']);
    expect(proxy.connections).toBeGreaterThan(connectionsBefore);
    expect(await h.broker.depth(queue)).toBe(0);

    // Warren reconnected and still delivers the next message (nothing cuts it any more).
    await h.broker.publish('', queue, '{"fine":true}', { messageId: 'after-poison' });
    await waitFor('the next message to be delivered', () => h.receiver.ids().has('after-poison'));
    await waitFor(
      'the next message to be acked',
      async () =>
        (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes[0]!.inFlight === 0,
    );
    expect(h.receiver.requests.filter((r) => r.headers['webhook-id'] === 'after-poison')).toHaveLength(1);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('consuming');
    expect((await h.warren.admin.request('/readyz')).status).toBe(200);
  });
});
