import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('a consumer the broker cancels', () => {
  const h = useHarness();

  it('re-declares a deleted source queue, re-subscribes and says so in the log', async () => {
    const exchange = uniqueName('cancel');
    const queue = uniqueName('cancel.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  cancelled:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    const ch = await h.broker.connection.createChannel();
    await ch.deleteQueue(queue);
    await ch.close();

    await waitFor('the cancel to be logged', () =>
      h.warren!.logs.some((l) => l.event === 'consumer_cancelled'),
    );
    await waitFor(
      'the route to consume again',
      () => h.warren!.runtime.describe().routes[0]!.state === 'consuming',
    );
    await h.broker.publish(exchange, 'k', 'after', { messageId: 'after-delete' });
    await waitFor('the delivery after re-subscribing', () => h.receiver.ids().has('after-delete'));
    expect(h.receiver.requests.at(-1)!.body).toBe('after');
  });
});
