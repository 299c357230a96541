import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { accounting } from '../helpers/load.js';
import type { Receiver } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

const routes = (exchange: string, queue: string, url: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    to: { webhook: { url: "${url}" } }
`;

describe('hot reload', () => {
  const h = useHarness();
  let first: Receiver;
  let second: Receiver;

  beforeEach(async () => {
    first = await h.receive();
    second = await h.receive();
  });

  it('moves a route to a new webhook URL under load with nothing lost and nothing twice', async () => {
    const exchange = uniqueName('reload');
    const queue = uniqueName('reload.q');
    h.warren = await startWarren({ 'r.yaml': routes(exchange, queue, first.url()) }, h.broker, {
      watch: true,
    });
    const publisher = h.publisher(exchange, 'order.created', 'm');
    publisher.start();
    await waitFor('traffic on the first receiver', () => first.requests.length > 20);

    await writeFile(join(h.warren.dir, 'r.yaml'), routes(exchange, queue, second.url()));
    await waitFor('traffic on the second receiver', () => second.requests.length > 20);
    await publisher.stop();

    const received = () =>
      [...first.requests, ...second.requests].map((r) => String(r.headers['webhook-id']));
    await waitFor(
      'every message delivered',
      () => accounting(publisher.published, received()).lost.length === 0,
    );
    expect(accounting(publisher.published, received()).duplicates).toBe(0);
    const last = h.warren.runtime.lastReload!;
    expect(last).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(last.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
  });
});
