import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { accounting, SteadyPublisher } from '../helpers/load.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

const routes = (exchange: string, queue: string, url: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    to: { webhook: { url: "${url}" } }
`;

describe('hot reload', () => {
  let broker: TestBroker;
  let first: Receiver;
  let second: Receiver;
  let warren: RunningWarren | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    first = await Receiver.start();
    second = await Receiver.start();
  });

  afterEach(async () => {
    await warren?.stop();
    await first.close();
    await second.close();
    await broker.close();
  });

  it('moves a route to a new webhook URL under load with nothing lost and nothing twice', async () => {
    const exchange = uniqueName('reload');
    const queue = uniqueName('reload.q');
    warren = await startWarren({ 'r.yaml': routes(exchange, queue, first.url()) }, broker, { watch: true });
    const publisher = new SteadyPublisher(broker, exchange, 'order.created', 'm');
    publisher.start();
    await waitFor('traffic on the first receiver', () => first.requests.length > 20);

    await writeFile(join(warren.dir, 'r.yaml'), routes(exchange, queue, second.url()));
    await waitFor('traffic on the second receiver', () => second.requests.length > 20);
    await publisher.stop();

    const received = () =>
      [...first.requests, ...second.requests].map((r) => String(r.headers['webhook-id']));
    await waitFor(
      'every message delivered',
      () => accounting(publisher.published, received()).lost.length === 0,
    );
    expect(accounting(publisher.published, received()).duplicates).toBe(0);
    const last = warren.runtime.lastReload!;
    expect(last).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(last.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
  });
});
