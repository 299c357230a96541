import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('when filters', () => {
  const h = useHarness();

  it('delivers matching messages, acks the rest as filtered and counts them', async () => {
    const exchange = uniqueName('orders');
    const queue = uniqueName('eu-orders');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  eu-orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    when:
      routingKey: "order.*.eu"
      headers: { tenant: { exists: true }, channel: [web, app] }
    to: { webhook: { url: "${h.receiver.url('/eu')}" } }
`,
      },
      h.broker,
    );
    const publish = (key: string, id: string, headers: Record<string, unknown>) =>
      h.broker.publish(exchange, key, `{"id":"${id}"}`, { messageId: id, headers });
    await publish('order.created.eu', 'match-1', { tenant: 'acme', channel: 'web' });
    await publish('order.created.us', 'wrong-key', { tenant: 'acme', channel: 'web' });
    await publish('order.created.eu', 'no-tenant', { channel: 'web' });
    await publish('order.created.eu', 'wrong-channel', { tenant: 'acme', channel: 'phone' });
    await publish('order.paid.eu', 'match-2', { tenant: 'acme', channel: 'app' });

    await waitFor('every message settled', async () => {
      const route = h.warren!.runtime.describe().routes[0]!;
      return (await h.broker.depth(queue)) === 0 && route.inFlight === 0 && h.receiver.requests.length >= 2;
    });
    // Settled and acked: give a wrongly delivered message no chance to hide behind timing.
    await waitFor(
      'five delivery log lines',
      () => h.warren!.logs.filter((l) => l.event === 'delivery').length === 5,
    );
    expect(h.receiver.requests.map((r) => r.headers['webhook-id']).sort()).toEqual(['match-1', 'match-2']);

    const filtered = h.warren.logs.filter((l) => l.event === 'delivery' && l.outcome === 'filtered');
    expect(filtered.map((l) => [l.id, l.reason])).toEqual([
      ['wrong-key', 'routing key "order.created.us" matches none of "order.*.eu"'],
      ['no-tenant', 'header tenant is absent'],
      ['wrong-channel', 'header channel is not "web" or "app"'],
    ]);
    const metrics = await (await h.warren.admin.request('/metrics')).text();
    expect(metrics).toContain('warren_messages_total{route="eu-orders",outcome="filtered"} 3');
    expect(metrics).toContain('warren_messages_total{route="eu-orders",outcome="ack"} 2');
    // Filtered is an ack, not a drop into a dead-letter queue or a retry.
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });
});
