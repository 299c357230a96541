import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * Every route here uses `prefetch: 1`: the next message is only delivered after the previous one
 * was settled, so once the last (matching) message reached the receiver, any message the binding
 * wrongly let through, published and confirmed before it, would already have arrived too.
 */
describe('bindings', () => {
  const h = useHarness();

  const bodies = (): string[] => h.receiver.requests.map((r) => r.body);

  it('delivers only the messages whose routing key matches a topic binding', async () => {
    const exchange = uniqueName('orders');
    const queue = uniqueName('created');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  created:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.created.#" }] }
    prefetch: 1
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.cancelled.eu', 'cancelled');
    await h.broker.publish(exchange, 'order.created', 'created-bare');
    await h.broker.publish(exchange, 'order.created.eu.de', 'created-deep');
    await waitFor('both matching messages', () => h.receiver.requests.length >= 2);
    expect(bodies()).toEqual(['created-bare', 'created-deep']);
    expect(h.receiver.requests[1]!.headers['x-warren-routing-key']).toBe('order.created.eu.de');
  });

  it('delivers only messages carrying every header of an x-match all binding', async () => {
    const exchange = uniqueName('events');
    const queue = uniqueName('invoices');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: headers }
routes:
  eu-invoices:
    from:
      queue: ${queue}
      bind: [{ exchange: ${exchange}, headers: { x-match: all, kind: invoice, region: eu } }]
    prefetch: 1
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, '', 'us-invoice', { headers: { kind: 'invoice', region: 'us' } });
    await h.broker.publish(exchange, '', 'invoice-without-region', { headers: { kind: 'invoice' } });
    await h.broker.publish(exchange, '', 'eu-invoice', { headers: { kind: 'invoice', region: 'eu' } });
    await waitFor('the matching message', () => h.receiver.requests.length >= 1);
    expect(bodies()).toEqual(['eu-invoice']);
  });

  it('delivers messages carrying any header of an x-match any binding', async () => {
    const exchange = uniqueName('events');
    const queue = uniqueName('invoices-or-eu');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: headers }
routes:
  invoices-or-eu:
    from:
      queue: ${queue}
      bind: [{ exchange: ${exchange}, headers: { x-match: any, kind: invoice, region: eu } }]
    prefetch: 1
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, '', 'us-order', { headers: { kind: 'order', region: 'us' } });
    await h.broker.publish(exchange, '', 'eu-order', { headers: { kind: 'order', region: 'eu' } });
    await h.broker.publish(exchange, '', 'us-invoice', { headers: { kind: 'invoice', region: 'us' } });
    await waitFor('both matching messages', () => h.receiver.requests.length >= 2);
    expect(bodies()).toEqual(['eu-order', 'us-invoice']);
  });

  it('delivers to a route bound to an exchange what is published to the exchange it is bound to', async () => {
    const upstream = uniqueName('a');
    const downstream = uniqueName('b');
    const queue = uniqueName('from-b');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${upstream}: { type: topic }
  ${downstream}:
    type: topic
    bind: [{ exchange: ${upstream}, key: "x.#" }]
routes:
  from-b:
    from: { queue: ${queue}, bind: [{ exchange: ${downstream}, key: "#" }] }
    prefetch: 1
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await h.broker.publish(upstream, 'y.1', 'not-forwarded-by-a');
    await h.broker.publish(upstream, 'x.1', 'forwarded-by-a');
    await waitFor('the message forwarded from a to b', () => h.receiver.requests.length >= 1);
    expect(bodies()).toEqual(['forwarded-by-a']);
    expect(h.receiver.requests[0]!.headers).toMatchObject({
      'x-warren-exchange': upstream,
      'x-warren-routing-key': 'x.1',
    });
  });

  it('sends unroutable messages to the alternate exchange and routed ones to their route', async () => {
    const exchange = uniqueName('main');
    const alternate = uniqueName('unrouted');
    const parking = uniqueName('unrouted-q');
    const queue = uniqueName('known');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: direct, alternateExchange: ${alternate} }
  ${alternate}: { type: fanout }
queues:
  ${parking}:
    bind: [{ exchange: ${alternate} }]
routes:
  known:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: known }] }
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'unknown', 'nobody-binds-this', { messageId: 'lost-1' });
    await h.broker.publish(exchange, 'known', 'routed');
    await waitFor('the routed message', () => h.receiver.requests.length >= 1);
    await waitFor(
      'the unroutable message in the alternate queue',
      async () => (await h.broker.depth(parking)) === 1,
    );
    const [parked] = await h.broker.drain(parking);
    expect(parked!.content.toString()).toBe('nobody-binds-this');
    expect(parked!.fields.routingKey).toBe('unknown');
    expect(parked!.properties.messageId).toBe('lost-1');
    expect(bodies()).toEqual(['routed']);
  });
});
