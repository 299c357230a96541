import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import type { FaultProxy } from '../helpers/proxy.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('handler slots across a reconnect', () => {
  const h = useHarness();
  let proxy: FaultProxy;

  beforeEach(async () => {
    proxy = await h.proxy();
  });

  it('hands slots freed by the old connection to deliveries of the new one', async () => {
    const exchange = uniqueName('slots');
    const queue = uniqueName('slots.q');
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first request hangs until released: it holds the route's only slot across the reconnect.
    h.receiver.responder = async (req) => {
      if (req.headers['webhook-id'] === 'first') await blocked;
      return 200;
    };
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  slots:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    prefetch: 10
    concurrency: 1
    to: { webhook: { url: "${h.receiver.url()}", timeout: 30s } }
`,
      },
      h.broker,
      { url: proxy.url() },
    );
    await h.broker.publish(exchange, 'k', 'x', { messageId: 'first' });
    await waitFor('the first request in its handler', () => h.receiver.ids().has('first'));
    proxy.cut();
    await waitFor('reconnected', async () => (await h.warren!.admin.request('/readyz')).status === 200);
    for (let i = 0; i < 5; i++) await h.broker.publish(exchange, 'k', 'x', { messageId: `after-${i}` });
    // All six (the redelivered first one and five new) wait behind the old connection's handler.
    await waitFor(
      'the new deliveries waiting for the slot',
      () => h.warren!.runtime.describe().routes[0]!.inFlight >= 7,
    );
    release();
    await waitFor('every later message delivered', () =>
      [0, 1, 2, 3, 4].every((i) => h.receiver.ids().has(`after-${i}`)),
    );
    // The first one was redelivered after the cut and acked on the new channel.
    await waitFor('the queue empty', async () => (await h.broker.depth(queue)) === 0);
    expect(
      h.receiver.requests.filter((r) => r.headers['webhook-id'] === 'first').length,
    ).toBeGreaterThanOrEqual(1);
  });
});
