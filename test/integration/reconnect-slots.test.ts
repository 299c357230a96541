import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { FaultProxy } from '../helpers/proxy.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

describe('handler slots across a reconnect', () => {
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
    await warren?.stop();
    await proxy.close();
    await receiver.close();
    await broker.close();
  });

  it('hands slots freed by the old connection to deliveries of the new one', async () => {
    const exchange = uniqueName('slots');
    const queue = uniqueName('slots.q');
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first request hangs until released: it holds the route's only slot across the reconnect.
    receiver.responder = async (req) => {
      if (req.headers['webhook-id'] === 'first') await blocked;
      return 200;
    };
    warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  slots:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    prefetch: 10
    concurrency: 1
    to: { webhook: { url: "${receiver.url()}", timeout: 30s } }
`,
      },
      broker,
      { url: proxy.url() },
    );
    await broker.publish(exchange, 'k', 'x', { messageId: 'first' });
    await waitFor('the first request in its handler', () => receiver.ids().has('first'));
    proxy.cut();
    await waitFor('reconnected', async () => (await warren!.admin.request('/readyz')).status === 200);
    for (let i = 0; i < 5; i++) await broker.publish(exchange, 'k', 'x', { messageId: `after-${i}` });
    // All six (the redelivered first one and five new) wait behind the old connection's handler.
    await waitFor(
      'the new deliveries waiting for the slot',
      () => warren!.runtime.describe().routes[0]!.inFlight >= 7,
    );
    release();
    await waitFor('every later message delivered', () =>
      [0, 1, 2, 3, 4].every((i) => receiver.ids().has(`after-${i}`)),
    );
    // The first one was redelivered after the cut and acked on the new channel.
    await waitFor('the queue empty', async () => (await broker.depth(queue)) === 0);
    expect(
      receiver.requests.filter((r) => r.headers['webhook-id'] === 'first').length,
    ).toBeGreaterThanOrEqual(1);
  });
});
