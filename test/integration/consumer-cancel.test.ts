import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

describe('a consumer the broker cancels', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let warren: RunningWarren | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
  });

  afterEach(async () => {
    await warren?.stop();
    await receiver.close();
    await broker.close();
  });

  it('re-declares a deleted source queue, re-subscribes and says so in the log', async () => {
    const exchange = uniqueName('cancel');
    const queue = uniqueName('cancel.q');
    warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  cancelled:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    to: { webhook: { url: "${receiver.url()}" } }
`,
      },
      broker,
    );
    const ch = await broker.connection.createChannel();
    await ch.deleteQueue(queue);
    await ch.close();

    await waitFor('the cancel to be logged', () =>
      warren!.logs.some((l) => l.event === 'consumer_cancelled'),
    );
    await waitFor(
      'the route to consume again',
      () => warren!.runtime.describe().routes[0]!.state === 'consuming',
    );
    await broker.publish(exchange, 'k', 'after', { messageId: 'after-delete' });
    await waitFor('the delivery after re-subscribing', () => receiver.ids().has('after-delete'));
    expect(receiver.requests.at(-1)!.body).toBe('after');
  });
});
