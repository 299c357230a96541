import type { ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { deadLetterCopy, forwardedProperties, retryCopy } from '../../src/delivery/copies.js';
import { toDelivery } from '../../src/delivery/delivery.js';

function message(
  headers: Record<string, unknown>,
  fields: Partial<ConsumeMessage['fields']> = {},
  messageId?: string,
) {
  return {
    content: Buffer.from('{"n":1}'),
    fields: {
      deliveryTag: 1,
      redelivered: false,
      exchange: 'orders',
      routingKey: 'order.created',
      consumerTag: 'c',
      ...fields,
    },
    properties: { headers, contentType: 'application/json', messageId, correlationId: 'corr-1' },
  } as unknown as ConsumeMessage;
}

describe('a delivery read from the broker', () => {
  it('starts at attempt 1 with the exchange and key it was published with', () => {
    const d = toDelivery(message({}), 'r');
    expect(d).toMatchObject({ attempt: 1, exchange: 'orders', routingKey: 'order.created', route: 'r' });
  });

  it('after a delay tier, reports the original exchange and key and the carried attempt', () => {
    const d = toDelivery(
      message(
        {
          'x-warren-attempt': 3,
          'x-warren-original-exchange': 'orders',
          'x-warren-original-routing-key': 'order.created',
        },
        { exchange: '', routingKey: 'billing.orders' },
      ),
      'r',
    );
    expect(d).toMatchObject({ attempt: 3, exchange: 'orders', routingKey: 'order.created' });
  });

  it('uses message-id as its id, else a hash that ignores what redelivery and dead-lettering add', () => {
    expect(toDelivery(message({}, {}, 'm-1'), 'r').id).toBe('m-1');
    const first = toDelivery(message({}), 'r').id;
    const again = toDelivery(
      message({ 'x-delivery-count': 2, 'x-death': [{ count: 1 }] }, { redelivered: true }),
      'r',
    ).id;
    expect(first).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(again).toBe(first);
  });

  it('keeps a valid traceparent and starts one when absent', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(toDelivery(message({ traceparent: tp }), 'r').traceparent).toBe(tp);
    expect(toDelivery(message({}), 'r').traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});

describe('copies Warren publishes', () => {
  const msg = message({
    tenant: 'acme',
    'x-death': [{ count: 1 }],
    'x-delivery-count': 4,
    'x-warren-attempt': 2,
  });
  const d = toDelivery(msg, 'billing');

  it('a retry copy carries the next attempt, the origin, the id and the trace, persistent', () => {
    const copy = retryCopy(msg, d);
    expect(copy.persistent).toBe(true);
    expect(copy.messageId).toBe(d.id);
    expect(copy.contentType).toBe('application/json');
    expect(copy.correlationId).toBe('corr-1');
    expect(copy.headers).toMatchObject({
      tenant: 'acme',
      'x-warren-attempt': 3,
      'x-warren-original-exchange': 'orders',
      'x-warren-original-routing-key': 'order.created',
      traceparent: d.traceparent,
    });
    expect(copy.headers).not.toHaveProperty('x-death');
    expect(copy.headers).not.toHaveProperty('x-delivery-count');
  });

  it('a dead-letter copy is annotated with route, reason, status, attempts, time and origin', () => {
    const copy = deadLetterCopy(
      msg,
      d,
      { reason: 'HTTP 404: nope', status: 404 },
      new Date('2026-11-29T12:00:00Z'),
    );
    expect(copy.headers).toMatchObject({
      tenant: 'acme',
      'x-warren-route': 'billing',
      'x-warren-error': 'HTTP 404: nope',
      'x-warren-status': 404,
      'x-warren-attempts': 2,
      'x-warren-failed-at': '2026-11-29T12:00:00.000Z',
      'x-warren-original-exchange': 'orders',
      'x-warren-original-routing-key': 'order.created',
    });
    expect(copy.headers).not.toHaveProperty('x-warren-attempt');
  });
});

describe('the properties of every copy', () => {
  it("never carry the original's user-id, which the broker refuses from another connection's user", () => {
    const msg = message({}, {}, 'm-1');
    (msg.properties as { userId?: string }).userId = 'billing-service';
    (msg.properties as { appId?: string }).appId = 'shop';
    const d = toDelivery(msg, 'r');
    for (const copy of [
      retryCopy(msg, d),
      deadLetterCopy(msg, d, { reason: 'HTTP 500' }),
      forwardedProperties(d.properties, d.id, {}, true),
    ]) {
      expect(copy).not.toHaveProperty('userId');
      expect(copy).toMatchObject({ appId: 'shop', correlationId: 'corr-1' });
    }
  });
});
