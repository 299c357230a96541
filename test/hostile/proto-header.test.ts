import type { GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { redriveQueue } from '../../src/dlq/redrive.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { type RawTable, rawPublish } from '../helpers/raw-amqp.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * A header named `__proto__` is legal AMQP. amqplib decodes a table by assigning each field, so that
 * field becomes the table's prototype — with a byte-array value, a Buffer, whose getters throw when
 * the table is walked with for…in. Warren must deliver, filter, dead-letter and redrive such a
 * message like any other, leaving that one header out, and keep the route running.
 */

const protoHeaders: RawTable = [
  ['__proto__', { t: 'x', v: Buffer.from('ab') }],
  ['tenant', { t: 'S', v: 'acme' }],
  ['x-keep', { t: 'S', v: 'yes' }],
  // The same inside a nested table, where the codec's JSON views walk it.
  [
    'x-meta',
    {
      t: 'F',
      v: [
        ['__proto__', { t: 'x', v: Buffer.from('cd') }],
        ['b', { t: 'I', v: 1 }],
      ],
    },
  ],
];

const headersOf = (m: GetMessage) => (m.properties.headers ?? {}) as Record<string, unknown>;

describe('a header named __proto__', () => {
  const h = useHarness();

  async function publish(queue: string): Promise<void> {
    await rawPublish([
      {
        exchange: '',
        routingKey: queue,
        body: '{"order":1}',
        properties: { contentType: 'application/json', messageId: 'proto', headers: protoHeaders },
      },
    ]);
    await h.broker.publish('', queue, '{"order":2}', { messageId: 'plain', headers: { tenant: 'acme' } });
  }

  it('is filtered on and delivered without it, in an envelope, and the route goes on', async () => {
    const queue = uniqueName('proto');
    h.warren = await startWarren(
      {
        'routes.yaml': `routes:
  r:
    from: { queue: ${queue} }
    when: { headers: { tenant: acme } }
    to: { webhook: { url: "${h.receiver.url()}", body: envelope } }
`,
      },
      h.broker,
    );
    await publish(queue);
    await waitFor('both delivered', async () => h.receiver.ids().size === 2);
    const request = h.receiver.requests.find((r) => r.headers['webhook-id'] === 'proto')!;
    const envelope = JSON.parse(request.body) as { headers: Record<string, unknown>; body: unknown };
    expect(envelope.body).toEqual({ order: 1 });
    expect(envelope.headers).toEqual({ tenant: 'acme', 'x-keep': 'yes', 'x-meta': { b: 1 } });
    expect(Object.keys(envelope.headers)).not.toContain('__proto__');
    await waitFor('the source queue empty', async () => (await h.broker.depth(queue)) === 0);
    expect(h.warren.logs.filter((l) => l.event === 'dispatch_bug')).toEqual([]);
  });

  it('is dead-lettered and redriven without it', async () => {
    const queue = uniqueName('proto-dlq');
    h.receiver.responder = () => 400;
    h.warren = await startWarren(
      {
        'routes.yaml': `routes:
  r:
    from: { queue: ${queue} }
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
    );
    await publish(queue);
    await waitFor('both dead-lettered', async () => (await h.broker.depth(`${queue}.dlq`)) === 2);
    const dead = await h.broker.channel.get(`${queue}.dlq`);
    if (!dead) throw new Error('the dead-letter queue is empty');
    expect(dead.properties.messageId).toBe('proto');
    // The nested table travels with its own fields: nothing had to be dropped to send it.
    expect(headersOf(dead)).toMatchObject({ 'x-keep': 'yes', 'x-meta': { b: 1 } });
    expect(headersOf(dead)['x-warren-dropped-headers']).toBeUndefined();
    h.broker.channel.nack(dead, false, true);
    await h.warren.stop();
    h.warren = undefined;

    const result = await redriveQueue(
      { consume: h.broker.connection, publish: h.broker.connection },
      { from: `${queue}.dlq`, to: queue },
    );
    expect(result).toMatchObject({ requested: 2, moved: 2 });
    const moved = await h.broker.drain(queue);
    const proto = moved.find((m) => m.properties.messageId === 'proto')!;
    expect(proto.content.toString()).toBe('{"order":1}');
    expect(headersOf(proto)).toMatchObject({ tenant: 'acme', 'x-keep': 'yes' });
    expect(Object.keys(headersOf(proto))).not.toContain('__proto__');
    expect(Object.getPrototypeOf(headersOf(proto))).toBe(Object.prototype);
    expect(moved.map((m) => m.properties.messageId).sort()).toEqual(['plain', 'proto']);
  });
});
