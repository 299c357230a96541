import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('republish', () => {
  const h = useHarness();
  let source: string;
  let target: string;
  let audit: string;
  let queue: string;

  beforeEach(async () => {
    source = uniqueName('orders');
    target = uniqueName('archive');
    audit = uniqueName('audit');
    queue = uniqueName('audit-copy');
  });

  /** Orders → `audit-copy` route → archive exchange as `audit.<key>`; the audit queue only takes `auditKey`. */
  const routes = (auditKey: string): string => `
exchanges:
  ${source}: { type: topic }
  ${target}: { type: topic }
queues:
  ${audit}:
    bind: [{ exchange: ${target}, key: "${auditKey}" }]
routes:
  audit-copy:
    from: { queue: ${queue}, bind: [{ exchange: ${source}, key: "#" }] }
    to:
      republish:
        exchange: ${target}
        routingKey: "audit.{{routingKey}}"
        headers: { x-copied-by: warren }
    retry: { attempts: 2, backoff: [200ms] }
`;

  const deliveries = (outcome: string): Array<Record<string, unknown>> =>
    (h.warren?.logs ?? []).filter((l) => l.event === 'delivery' && l.outcome === outcome);

  const settled = async (): Promise<boolean> =>
    (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0);

  it('republishes the message with the rendered routing key, added headers and persistence', async () => {
    h.warren = await startWarren({ 'routes.yaml': routes('audit.#') }, h.broker);
    await h.broker.publish(source, 'order.created', '{"id":7}', {
      persistent: false,
      contentType: 'application/json',
      messageId: 'order-7',
      headers: { region: 'eu' },
    });
    await waitFor('the copy in the audit queue', async () => (await h.broker.depth(audit)) === 1);
    const [copy] = await h.broker.drain(audit);
    expect(copy!.fields.exchange).toBe(target);
    expect(copy!.fields.routingKey).toBe('audit.order.created');
    expect(copy!.content.toString()).toBe('{"id":7}');
    expect(copy!.properties).toMatchObject({
      contentType: 'application/json',
      messageId: 'order-7',
      deliveryMode: 2,
    });
    expect(copy!.properties.headers).toMatchObject({ region: 'eu', 'x-copied-by': 'warren' });
    await waitFor('the source delivery to be acked', async () => deliveries('ack').length === 1 && settled());
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });

  it('retries an unroutable republish, dead-letters it as unroutable, and keeps publishing afterwards', async () => {
    h.warren = await startWarren({ 'routes.yaml': routes('audit.ok.#') }, h.broker);
    await h.broker.publish(source, 'lost.1', 'nobody-binds-audit.lost', { messageId: 'lost-1' });
    await waitFor('the unroutable copy in the DLQ', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    await waitFor('the source delivery to be settled', settled);
    const [dead] = await h.broker.drain(`${queue}.dlq`);
    expect(dead!.content.toString()).toBe('nobody-binds-audit.lost');
    expect(dead!.properties.headers).toMatchObject({
      'x-warren-route': 'audit-copy',
      'x-warren-attempts': 2,
      'x-warren-original-exchange': source,
      'x-warren-original-routing-key': 'lost.1',
    });
    expect(String(dead!.properties.headers!['x-warren-error'])).toMatch(/unroutable/);
    expect(deliveries('retry')).toEqual([expect.objectContaining({ id: 'lost-1', attempt: 1 })]);
    expect(String(deliveries('retry')[0]!.reason)).toMatch(/unroutable/);
    expect(await h.broker.depth(audit)).toBe(0);

    await h.broker.publish(source, 'ok.2', 'routable', { messageId: 'ok-2' });
    await waitFor('the routable copy in the audit queue', async () => (await h.broker.depth(audit)) === 1);
    const [copy] = await h.broker.drain(audit);
    expect(copy!.fields.routingKey).toBe('audit.ok.2');
    expect(copy!.content.toString()).toBe('routable');
    await waitFor(
      'the routable delivery to be acked',
      async () => deliveries('ack').length === 1 && settled(),
    );
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });
});
