import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('a queue under `queues:` whose route is removed', () => {
  const h = useHarness();

  it('stays declared and bound as it is, without a conflict over the poison guard it was given', async () => {
    const exchange = uniqueName('standalone');
    const queue = uniqueName('standalone.q');
    const queues = `exchanges: { ${exchange}: { type: direct } }\nqueues:\n  ${queue}:\n    bind: [{ exchange: ${exchange}, key: k }]\n`;
    const route = `routes:\n  tap:\n    from: { queue: ${queue} }\n    to: { webhook: { url: "${h.receiver.url()}" } }\n`;
    h.warren = await startWarren({ 'r.yaml': queues + route }, h.broker);
    await h.broker.publish(exchange, 'k', 'consumed', { messageId: 'one' });
    await waitFor('the first delivery', () => h.receiver.ids().has('one'));

    await writeFile(join(h.warren.dir, 'r.yaml'), queues);
    const report = await h.warren.reloader.reload('test');
    expect(report).toMatchObject({
      result: 'applied',
      routes: [{ route: 'tap', change: 'removed', ok: true }],
    });
    expect(h.warren.runtime.describe().errors).toEqual([]);

    await h.broker.publish(exchange, 'k', 'kept', { messageId: 'two' });
    await waitFor('the message to wait in the queue', async () => (await h.broker.depth(queue)) === 1);
    expect(h.receiver.ids().has('two')).toBe(false);
  });
});
