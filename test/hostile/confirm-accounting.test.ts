import type { GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { ConfirmPublisher } from '../../src/amqp/publisher.js';
import { isWarrenError } from '../../src/errors.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { type RawMessage, rawPublish } from '../helpers/raw-amqp.js';
import { startWarren, useHarness } from '../helpers/warren.js';
import { hostileForms } from './forms.js';

/**
 * Confirms are matched to publishes by their order on the channel. A publish that throws after
 * amqplib queued its confirm callback used to shift every later confirm onto the wrong message:
 * messages were acked although the broker refused their copy. These tests count every message.
 */
describe('confirm accounting never drifts', () => {
  const h = useHarness();

  it('counts every message exactly while the broker nacks copies and unencodable messages pass', async () => {
    const queue = uniqueName('accounting');
    const target = uniqueName('bounded');
    const capacity = 5;
    h.warren = await startWarren(
      {
        'routes.yaml': `
queues:
  ${target}:
    type: classic # a quorum queue enforces x-max-length only approximately
    arguments: { x-max-length: ${capacity}, x-overflow: reject-publish }
routes:
  bounded:
    from: { queue: ${queue} }
    prefetch: 16
    to: { republish: { exchange: "", routingKey: ${target} } }
    retry: { attempts: 2, backoff: [200ms] }
`,
      },
      h.broker,
    );
    // Every form in turn, between ordinary messages: 60 messages, 12 of them unencodable or retyped.
    const messages: RawMessage[] = [];
    const hostile = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const form = i % 5 === 2 ? hostileForms[((i / 5) % hostileForms.length) | 0] : undefined;
      const id = `m${i}`;
      if (form && !form.lossless) hostile.add(id);
      messages.push({
        exchange: '',
        routingKey: queue,
        body: `{"n":${i}}`,
        properties: { messageId: id, ...(form ? { headers: form.headers } : {}) },
      });
    }
    await rawPublish(messages);

    const inTarget: GetMessage[] = [];
    const inDlq: GetMessage[] = [];
    await waitFor(
      'every message in the target or the DLQ',
      async () => {
        inDlq.push(...(await h.broker.drain(`${queue}.dlq`)));
        const settled =
          (await h.broker.depth(queue)) === 0 &&
          h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0);
        return settled && (await h.broker.depth(target)) + inDlq.length >= messages.length;
      },
      40_000,
    );
    inTarget.push(...(await h.broker.drain(target)));
    inDlq.push(...(await h.broker.drain(`${queue}.dlq`)));

    const ids = (list: GetMessage[]) => list.map((m) => String(m.properties.messageId));
    const targetIds = ids(inTarget);
    const dlqIds = ids(inDlq);
    // Each id exactly once, in one place: none acked whose copy the broker refused, none doubled.
    expect([...targetIds, ...dlqIds].sort()).toEqual(
      messages.map((m) => String(m.properties!.messageId)).sort(),
    );
    expect(targetIds).toHaveLength(capacity);
    for (const m of inDlq) {
      const id = String(m.properties.messageId);
      const error = String(m.properties.headers?.['x-warren-error']);
      if (hostile.has(id)) expect(error, id).toMatch(/^headers cannot be re-encoded: /);
      else expect(error, id).toContain('broker nacked the publish (gave up after 2 attempts)');
    }
    for (const id of hostile) expect(targetIds).not.toContain(id);
    expect(h.warren.logs.filter((l) => l.event === 'handler_bug')).toEqual([]);
  });

  it('retires a confirm channel whose publish threw: later confirms settle their own publishes', async () => {
    const bounded = uniqueName('full');
    const open = uniqueName('open');
    await h.broker.channel.assertQueue(bounded, {
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
    await h.broker.channel.assertQueue(open);
    h.broker.track('queue', bounded, open);
    const publisher = new ConfirmPublisher();
    publisher.attach(h.broker.connection);
    const publish = (queue: string, content: unknown) =>
      publisher.publish('', queue, content as Buffer, {}, { mandatory: true });
    try {
      await publish(bounded, Buffer.from('fills the queue'));
      // amqplib throws after queueing the confirm callback (content is not a buffer): the encoding
      // check cannot see this one, so only retiring the channel keeps the accounting right.
      const thrown = await publish(open, 'not a buffer').catch((err: unknown) => err);
      expect(isWarrenError(thrown, 'WARREN_E_PUBLISH_FAILED')).toBe(true);
      expect((thrown as Error).message).toBe('publish channel unusable');
      const [refused, accepted] = await Promise.allSettled([
        publish(bounded, Buffer.from('refused: the queue is full')),
        publish(open, Buffer.from('accepted')),
      ]);
      expect(refused.status).toBe('rejected');
      expect(String((refused as PromiseRejectedResult).reason.message)).toBe('broker nacked the publish');
      expect(accepted.status).toBe('fulfilled');
      expect(await h.broker.depth(open)).toBe(1);
      expect(await h.broker.depth(bounded)).toBe(1);
    } finally {
      publisher.attach(undefined);
    }
  });

  it('refuses an unencodable publish before it reaches the channel: nothing retired, nothing failed', async () => {
    const queue = uniqueName('clean');
    await h.broker.channel.assertQueue(queue);
    h.broker.track('queue', queue);
    const publisher = new ConfirmPublisher();
    publisher.attach(h.broker.connection);
    try {
      const inFlight = publisher.publish('', queue, Buffer.from('a'), {}, { mandatory: true });
      const refused = await publisher
        .publish('', queue, Buffer.from('b'), { headers: { ['\uFFFD'.repeat(90)]: 1 } }, { mandatory: true })
        .catch((err: unknown) => err);
      expect(isWarrenError(refused, 'WARREN_E_UNENCODABLE')).toBe(true);
      expect((refused as Error).message).toMatch(/^headers cannot be re-encoded: .*name is 270 bytes/);
      await inFlight;
      await publisher.publish('', queue, Buffer.from('c'), {}, { mandatory: true });
      expect((await h.broker.drain(queue)).map((m) => m.content.toString())).toEqual(['a', 'c']);
    } finally {
      publisher.attach(undefined);
    }
  });
});
