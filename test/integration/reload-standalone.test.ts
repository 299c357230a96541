import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

describe('a queue under `queues:` whose route is removed', () => {
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

  it('stays declared and bound as it is, without a conflict over the poison guard it was given', async () => {
    const exchange = uniqueName('standalone');
    const queue = uniqueName('standalone.q');
    const queues = `exchanges: { ${exchange}: { type: direct } }\nqueues:\n  ${queue}:\n    bind: [{ exchange: ${exchange}, key: k }]\n`;
    const route = `routes:\n  tap:\n    from: { queue: ${queue} }\n    to: { webhook: { url: "${receiver.url()}" } }\n`;
    warren = await startWarren({ 'r.yaml': queues + route }, broker);
    await broker.publish(exchange, 'k', 'consumed', { messageId: 'one' });
    await waitFor('the first delivery', () => receiver.ids().has('one'));

    await writeFile(join(warren.dir, 'r.yaml'), queues);
    const report = await warren.reloader.reload('test');
    expect(report).toMatchObject({
      result: 'applied',
      routes: [{ route: 'tap', change: 'removed', ok: true }],
    });
    expect(warren.runtime.describe().errors).toEqual([]);

    await broker.publish(exchange, 'k', 'kept', { messageId: 'two' });
    await waitFor('the message to wait in the queue', async () => (await broker.depth(queue)) === 1);
    expect(receiver.ids().has('two')).toBe(false);
  });
});
