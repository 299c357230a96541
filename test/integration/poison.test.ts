import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { FaultProxy } from '../helpers/proxy.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

/** Stops Warren for cleanup, but never hangs the hooks: a stop stuck on a broken session is left
 * behind (the test already failed) so the queues are still deleted. */
async function stopWarren(warren: RunningWarren | undefined): Promise<void> {
  if (!warren) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    warren.stop().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 10_000);
    }),
  ]);
  clearTimeout(timer);
}

interface Death {
  reason?: string;
  queue?: string;
  count?: number;
}

describe('the poison guard (x-delivery-limit)', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let proxy: FaultProxy;
  let warren: RunningWarren | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
    proxy = await FaultProxy.start();
  });

  afterEach(async () => {
    await stopWarren(warren);
    warren = undefined;
    await proxy.close();
    await receiver.close();
    await broker.close();
  });

  it('dead-letters a message whose channel closes before every ack, and keeps running', async () => {
    const queue = uniqueName('poison');
    const deliveryLimit = 2;
    const poisonId = `poison-${queue}`;
    // Every request for the poison message loses Warren's broker connections before the answer,
    // so the ack can never reach the broker and the delivery is requeued.
    receiver.responder = (req) => {
      if (req.headers['webhook-id'] === poisonId) proxy.cut();
      return 200;
    };
    warren = await startWarren(
      {
        'routes.yaml': `
routes:
  poison:
    from: { queue: ${queue} }
    deliveryLimit: ${deliveryLimit}
    to: { webhook: { url: "${receiver.url()}" } }
`,
      },
      broker,
      { url: proxy.url() },
    );
    const connectionsBefore = proxy.connections;
    await broker.publish('', queue, '{"poison":true}', { messageId: poisonId });

    const [dead] = await waitFor('the message in the DLQ', async () => {
      const got = await broker.drain(`${queue}.dlq`);
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
    const poisonRequests = receiver.requests.filter((r) => r.headers['webhook-id'] === poisonId);
    expect(poisonRequests).toHaveLength(deliveryLimit + 1);
    expect(poisonRequests.map((r) => r.headers['x-warren-redelivered'])).toEqual(['false', 'true', 'true']);
    expect(proxy.connections).toBeGreaterThan(connectionsBefore);
    expect(await broker.depth(queue)).toBe(0);

    // Warren reconnected and still delivers the next message (nothing cuts it any more).
    await broker.publish('', queue, '{"fine":true}', { messageId: 'after-poison' });
    await waitFor('the next message to be delivered', () => receiver.ids().has('after-poison'));
    await waitFor(
      'the next message to be acked',
      async () => (await broker.depth(queue)) === 0 && warren!.runtime.describe().routes[0]!.inFlight === 0,
    );
    expect(receiver.requests.filter((r) => r.headers['webhook-id'] === 'after-poison')).toHaveLength(1);
    expect(await broker.depth(`${queue}.dlq`)).toBe(0);
    expect(warren.runtime.describe().routes[0]!.state).toBe('consuming');
    expect((await warren.admin.request('/readyz')).status).toBe(200);
  });
});
