import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { toDelivery } from '../../src/delivery/delivery.js';
import { redriveCopy } from '../../src/dlq/copy.js';
import { formatPeek } from '../../src/dlq/print.js';
import { describeDeadLetter, excerptBytes, originOf } from '../../src/dlq/view.js';

function message(
  headers: Record<string, unknown>,
  properties: Record<string, unknown> = {},
  content: Buffer = Buffer.from('{"order":1}'),
): Message {
  return {
    content,
    fields: { deliveryTag: 1, redelivered: true, exchange: '', routingKey: 'billing.orders.dlq' },
    properties: { headers, contentType: 'application/json', ...properties },
  } as unknown as Message;
}

/** What Warren's deadLetterCopy writes, after one trip through the DLQ for a peek. */
const annotated = {
  'x-warren-route': 'billing',
  'x-warren-error': 'HTTP 404: not here',
  'x-warren-status': 404,
  'x-warren-attempts': 3,
  'x-warren-failed-at': '2026-11-29T10:00:00.000Z',
  'x-warren-original-exchange': 'orders',
  'x-warren-original-routing-key': 'order.created.eu',
  'x-warren-publish-id': '123.4',
  'x-delivery-count': 1,
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tenant: 'acme',
};

/** What the broker's poison guard leaves on a message it dead-lettered from the source queue. */
const poisoned = {
  'x-first-death-exchange': 'orders',
  'x-first-death-queue': 'billing.orders',
  'x-first-death-reason': 'delivery_limit',
  'x-death': [
    {
      count: 1,
      reason: 'delivery_limit',
      queue: 'billing.orders',
      time: { '!': 'timestamp', value: 1_764_410_400 },
      exchange: 'orders',
      'routing-keys': ['order.created.eu'],
    },
  ],
  'x-delivery-count': 10,
};

describe('a dead-lettered message as a peek shows it', () => {
  it('names the route, error, status, attempts, time and origin Warren annotated it with', () => {
    const view = describeDeadLetter(message(annotated, { messageId: 'm-1' }), 1);
    expect(view).toEqual({
      position: 1,
      messageId: 'm-1',
      route: 'billing',
      error: 'HTTP 404: not here',
      status: 404,
      attempts: 3,
      failedAt: '2026-11-29T10:00:00.000Z',
      exchange: 'orders',
      routingKey: 'order.created.eu',
      contentType: 'application/json',
      size: 11,
      body: '{"order":1}',
      bodyEncoding: 'utf8',
      truncated: false,
      headers: { tenant: 'acme', traceparent: annotated.traceparent },
    });
  });

  it('names the schema a body broke, beside its pointer and message', () => {
    const invalid = {
      ...annotated,
      'x-warren-error': 'schema: /order/id must be string',
      'x-warren-schema': 'order.v1.json',
      'x-warren-attempts': 1,
    };
    const { 'x-warren-status': _, ...headers } = invalid;
    const view = describeDeadLetter(message(headers, { messageId: 'm-2' }), 1);
    expect(view).toMatchObject({
      error: 'schema: /order/id must be string',
      schema: 'order.v1.json',
      attempts: 1,
      headers: { tenant: 'acme', traceparent: annotated.traceparent },
    });
    expect(
      formatPeek({ route: 'billing', queue: 'b.dlq', source: 'b', total: 1, limit: 20, messages: [view] }),
    ).toContain('schema: /order/id must be string [order.v1.json]');
  });

  it("gives a broker dead letter's reason and origin from x-death, with its timestamps as ISO text", () => {
    const view = describeDeadLetter(message(poisoned), 2);
    expect(view).toMatchObject({
      position: 2,
      error: 'dead-lettered by the broker: delivery_limit',
      deathReason: 'delivery_limit',
      exchange: 'orders',
      routingKey: 'order.created.eu',
    });
    expect(view.headers['x-death']).toEqual([
      expect.objectContaining({ time: '2025-11-29T10:00:00.000Z', 'routing-keys': ['order.created.eu'] }),
    ]);
    expect(view.headers).not.toHaveProperty('x-delivery-count');
  });

  it('gives the latest death as the reason when a retried message hit the poison guard', () => {
    // Through a delay tier (expired) and back, then the delivery limit: x-death is newest first.
    const retried = {
      'x-first-death-exchange': '',
      'x-first-death-queue': 'warren.retry.billing.orders.10s',
      'x-first-death-reason': 'expired',
      'x-death': [
        {
          count: 1,
          reason: 'delivery_limit',
          queue: 'billing.orders',
          exchange: '',
          'routing-keys': ['billing.orders'],
        },
        {
          count: 1,
          reason: 'expired',
          queue: 'warren.retry.billing.orders.10s',
          exchange: '',
          'routing-keys': ['x'],
        },
      ],
    };
    expect(describeDeadLetter(message(retried), 1)).toMatchObject({
      error: 'dead-lettered by the broker: delivery_limit',
      deathReason: 'delivery_limit',
    });
  });

  it('cuts a long text body without splitting a character and says so', () => {
    const body = Buffer.from(`${'a'.repeat(excerptBytes - 1)}é and more`);
    const view = describeDeadLetter(message({}, { contentType: 'text/plain' }, body), 1);
    expect(view).toMatchObject({ size: body.length, bodyEncoding: 'utf8', truncated: true });
    expect(view.body).toBe('a'.repeat(excerptBytes - 1));
  });

  it('shows binary and compressed bodies as base64', () => {
    const binary = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    expect(describeDeadLetter(message({}, {}, binary), 1)).toMatchObject({
      body: binary.toString('base64'),
      bodyEncoding: 'base64',
    });
    const gzipped = describeDeadLetter(
      message({}, { contentEncoding: 'gzip' }, Buffer.from('looks like text')),
      1,
    );
    expect(gzipped).toMatchObject({ bodyEncoding: 'base64', contentEncoding: 'gzip' });
  });

  it('has no origin for a message that carries neither annotation nor x-death', () => {
    expect(originOf({ tenant: 'acme' })).toBeUndefined();
  });
});

describe('the copy a redrive publishes', () => {
  it('drops the attempt counter, the DLQ annotations and the broker history, and keeps the rest', () => {
    const msg = message(
      {
        ...annotated,
        'x-warren-attempt': 3,
        'x-death': poisoned['x-death'],
        'x-first-death-reason': 'expired',
      },
      {
        messageId: 'm-1',
        correlationId: 'c-1',
        timestamp: 1_764_410_400,
        type: 'order',
        appId: 'shop',
        expiration: '5000',
      },
    );
    const copy = redriveCopy(msg);
    expect(copy).toEqual({
      persistent: true,
      messageId: 'm-1',
      contentType: 'application/json',
      correlationId: 'c-1',
      timestamp: 1_764_410_400,
      type: 'order',
      appId: 'shop',
      headers: {
        tenant: 'acme',
        traceparent: annotated.traceparent,
        'x-warren-original-exchange': 'orders',
        'x-warren-original-routing-key': 'order.created.eu',
      },
    });
  });

  it("peeks and redrives a dead letter whose header `__proto__` amqplib made the table's prototype", () => {
    // amqplib decodes a field named `__proto__` by assigning it: a byte-array value becomes the
    // table's prototype, and walking the table with for…in runs into Buffer getters that throw.
    const headers: Record<string, unknown> = { tenant: 'acme', 'x-warren-error': 'HTTP 404' };
    Object.setPrototypeOf(headers, Buffer.from('ab'));
    const msg = message(headers, { messageId: 'm-proto' });
    expect(describeDeadLetter(msg, 1)).toMatchObject({ error: 'HTTP 404' });
    const copy = redriveCopy(msg);
    expect(copy.headers).toEqual({ tenant: 'acme' });
    expect(Object.getPrototypeOf(copy.headers)).toBe(Object.prototype);
  });

  it('gives a broker dead letter the origin its webhook needs, so the receiver sees the same exchange, key and id', () => {
    const poison = message(poisoned, {}, Buffer.from('{"order":2}'));
    const original = toDelivery(
      {
        ...poison,
        fields: { ...poison.fields, exchange: 'orders', routingKey: 'order.created.eu' },
      } as never,
      'billing',
    );
    const copy = redriveCopy(poison);
    expect(copy.headers).toEqual({
      'x-warren-original-exchange': 'orders',
      'x-warren-original-routing-key': 'order.created.eu',
    });
    // Back in the source queue, the copy arrives through the default exchange.
    const redriven = toDelivery(
      {
        content: poison.content,
        fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'billing.orders' },
        properties: { ...copy, headers: copy.headers },
      } as never,
      'billing',
    );
    expect(redriven).toMatchObject({ attempt: 1, exchange: 'orders', routingKey: 'order.created.eu' });
    expect(redriven.id).toBe(original.id);
  });
});
