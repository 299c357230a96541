import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('webhook forwarding', () => {
  const h = useHarness();

  it('forwards a message with its body, content type and every contract header', async () => {
    const exchange = uniqueName('orders');
    const queue = uniqueName('billing');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  billing:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "order.#" }] }
    to: { webhook: { url: "${h.receiver.url('/hooks/orders')}", headers: { x-team: billing } } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created.eu', '{"id":42}', {
      contentType: 'application/json',
      messageId: 'order-42',
      headers: {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'congo=t61',
      },
    });
    await waitFor('the webhook request', () => h.receiver.requests.length === 1);
    const req = h.receiver.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks/orders');
    expect(req.body).toBe('{"id":42}');
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': 'order-42',
      'x-team': 'billing',
      'x-warren-route': 'billing',
      'x-warren-attempt': '1',
      'x-warren-exchange': exchange,
      'x-warren-routing-key': 'order.created.eu',
      'x-warren-redelivered': 'false',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'congo=t61',
    });
    const ts = Number(req.headers['webhook-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
    await waitFor(
      'the ack',
      async () =>
        (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes[0]!.inFlight === 0,
    );
  });
});
