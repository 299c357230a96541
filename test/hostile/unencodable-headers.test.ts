import type { GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { redriveQueue } from '../../src/dlq/redrive.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { rawPublish } from '../helpers/raw-amqp.js';
import { type RunningWarren, startWarren, useHarness } from '../helpers/warren.js';
import { decodedValue, type HostileForm, hostileForms } from './forms.js';

/**
 * The header forms amqplib decodes but cannot encode again, through every copy Warren makes of a
 * message (retry, dead letter, republish, plugin output, DLQ redrive), against the real broker.
 * Forms Warren can send exactly (a typed value) behave like any message; the others end in the
 * DLQ at once, with the reason and the headers that could not be sent listed.
 */

const idOf = (form: HostileForm) => `hostile-${hostileForms.indexOf(form)}`;
const headersOf = (m: GetMessage) => (m.properties.headers ?? {}) as Record<string, unknown>;

/** Publishes every form (and one plain message) to `queue` through the default exchange. */
async function publishForms(queue: string): Promise<void> {
  await rawPublish([
    ...hostileForms.map((form) => ({
      exchange: '',
      routingKey: queue,
      body: `{"form":${hostileForms.indexOf(form)}}`,
      properties: { contentType: 'application/json', messageId: idOf(form), headers: form.headers },
    })),
    { exchange: '', routingKey: queue, body: '{"plain":true}', properties: { messageId: 'plain' } },
  ]);
}

async function drainAll(h: ReturnType<typeof useHarness>, queue: string, n: number): Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  await waitFor(`${n} messages in ${queue}`, async () => {
    got.push(...(await h.broker.drain(queue)));
    return got.length >= n;
  });
  await new Promise((r) => setTimeout(r, 300));
  got.push(...(await h.broker.drain(queue)));
  return got;
}

function byId(messages: GetMessage[]): Map<string, GetMessage> {
  const out = new Map<string, GetMessage>();
  for (const m of messages) {
    const id = String(m.properties.messageId);
    expect(out.has(id), `${id} once`).toBe(false);
    out.set(id, m);
  }
  return out;
}

/** A lossless form arrives with its value as amqplib decodes it; a lossy one without it, listed. */
function expectCarried(form: HostileForm, m: GetMessage, droppedListed: boolean): void {
  const headers = headersOf(m);
  expect(headers['x-keep']).toBe('yes');
  if (form.lossless) {
    expect(headers[form.header]).toEqual(decodedValue[form.header]);
    expect(headers['x-warren-dropped-headers']).toBeUndefined();
  } else {
    expect(headers[form.header]).toBeUndefined();
    if (droppedListed)
      expect(String(headers['x-warren-dropped-headers'])).toContain(form.header.slice(0, 10));
  }
}

describe('hostile headers through every copy path', () => {
  const h = useHarness();

  it('the raw publisher gets each form past the broker as it is', async () => {
    const queue = uniqueName('raw');
    await h.broker.channel.assertQueue(queue);
    h.broker.track('queue', queue);
    const { frameMax } = await rawPublish(
      hostileForms.map((form) => ({
        exchange: '',
        routingKey: queue,
        body: 'x',
        properties: { messageId: idOf(form), headers: form.headers },
      })),
    );
    expect(frameMax).toBe(131_072);
    const got = byId(await drainAll(h, queue, hostileForms.length));
    for (const form of hostileForms) {
      const headers = headersOf(got.get(idOf(form))!);
      expect(headers['x-keep']).toBe('yes');
      expect(form.header in headers).toBe(true);
    }
    expect(String(headersOf(got.get(idOf(hostileForms[0]!))!)['x-big'])).toHaveLength(100_000);
  });

  for (const type of ['quorum', 'classic'] as const) {
    it(`retry: on a ${type} queue, an unencodable copy is dead-lettered at once, never requeued`, async () => {
      const queue = uniqueName(`retry-${type}`);
      h.receiver.responder = () => 503;
      h.warren = await startRoute(
        h,
        queue,
        type,
        `to: { webhook: { url: "${h.receiver.url()}" } }
    retry: { attempts: 2, backoff: [200ms] }`,
      );
      await publishForms(queue);
      const dead = byId(await drainAll(h, `${queue}.dlq`, hostileForms.length + 1));
      expect([...dead.keys()].sort()).toEqual([...hostileForms.map(idOf), 'plain'].sort());
      for (const form of hostileForms) {
        const m = dead.get(idOf(form))!;
        const headers = headersOf(m);
        expectCarried(form, m, true);
        const tries = h.receiver.requests.filter((r) => r.headers['webhook-id'] === idOf(form)).length;
        if (form.lossless) {
          expect(headers['x-warren-attempts']).toBe(2);
          expect(String(headers['x-warren-error'])).toContain('HTTP 503');
          expect(tries).toBe(2);
        } else {
          expect(headers['x-warren-attempts']).toBe(1);
          expect(String(headers['x-warren-error'])).toMatch(/^headers cannot be re-encoded: /);
          expect(String(headers['x-warren-error'])).toContain(form.header.slice(0, 10));
          expect(tries).toBe(1);
          const logged = h.warren.logs.find((l) => l.event === 'delivery' && l.id === idOf(form));
          expect(logged).toMatchObject({ outcome: 'dead_letter' });
          expect(String(logged?.reason)).toMatch(/^headers cannot be re-encoded: /);
        }
      }
      await waitFor('the source queue empty', async () => (await h.broker.depth(queue)) === 0);
      // No copy failed to publish, so nothing was requeued (the old loop: every 0.5 s for ever).
      expect(h.warren.logs.filter((l) => l.event === 'publish_failed')).toEqual([]);
      expect(h.warren.logs.filter((l) => l.event === 'delivery' && l.outcome === 'requeue')).toEqual([]);
    });
  }

  it('dead letter: the DLQ copy keeps what can be sent and lists what could not', async () => {
    const queue = uniqueName('dead');
    h.receiver.responder = () => 400;
    h.warren = await startRoute(h, queue, 'quorum', `to: { webhook: { url: "${h.receiver.url()}" } }`);
    await publishForms(queue);
    const dead = byId(await drainAll(h, `${queue}.dlq`, hostileForms.length + 1));
    for (const form of hostileForms) {
      const m = dead.get(idOf(form))!;
      expectCarried(form, m, true);
      expect(String(headersOf(m)['x-warren-error'])).toContain('HTTP 400');
      expect(m.content.toString()).toBe(`{"form":${hostileForms.indexOf(form)}}`);
    }
    expect(headersOf(dead.get('plain')!)['x-warren-dropped-headers']).toBeUndefined();
  });

  it('republish: an unencodable message is a permanent failure, dead-lettered with the reason', async () => {
    const queue = uniqueName('republish');
    const sink = uniqueName('sink');
    h.warren = await startRoute(
      h,
      queue,
      'quorum',
      `to: { republish: { exchange: "", routingKey: ${sink} } }`,
      `queues:\n  ${sink}: {}\n`,
    );
    await publishForms(queue);
    await expectForwarded(h, queue, sink, '');
  });

  it('plugin output: an unencodable output is a permanent failure, dead-lettered with the reason', async () => {
    const queue = uniqueName('plugin');
    const sink = uniqueName('sink');
    h.warren = await startRoute(
      h,
      queue,
      'quorum',
      'to: { plugin: { file: forward.js } }',
      `queues:\n  ${sink}: {}\n`,
      { 'forward.js': `export default () => ({ exchange: '', routingKey: '${sink}' })` },
    );
    await publishForms(queue);
    await expectForwarded(h, queue, sink, 'plugin forward.js output: ');
  });

  it('dead letter: when even Warren’s annotations cannot be sent, a minimal copy still leaves', async () => {
    const queue = uniqueName('minimal');
    // A hostile original routing key: the republish cannot send it (over 255 bytes), and the
    // dead letter's own annotation repeating it is over 64 KiB.
    h.warren = await startRoute(h, queue, 'classic', 'to: { republish: { exchange: "" } }');
    await rawPublish([
      {
        exchange: '',
        routingKey: queue,
        body: 'minimal body',
        properties: {
          messageId: 'minimal',
          headers: [
            ['x-keep', { t: 'S', v: 'yes' }],
            ['x-warren-original-routing-key', { t: 'S', v: 'k'.repeat(100_000) }],
          ],
        },
      },
    ]);
    const [dead] = await drainAll(h, `${queue}.dlq`, 1);
    const headers = headersOf(dead!);
    expect(dead!.content.toString()).toBe('minimal body');
    expect(dead!.properties.messageId).toBe('minimal');
    expect(String(headers['x-warren-error'])).toBe('routing key is 100000 bytes once decoded, over 255');
    expect(headers['x-warren-route']).toBe('r');
    expect(headers['x-warren-original-routing-key']).toBe('k'.repeat(1_000));
    expect(String(headers['x-warren-dropped-headers'])).toMatch(/^every header but Warren’s annotations/);
    expect(headers['x-keep']).toBeUndefined();
    await waitFor('the source queue empty', async () => (await h.broker.depth(queue)) === 0);
    expect(h.warren.logs.filter((l) => l.event === 'publish_failed')).toEqual([]);
  });

  it('plugin fan-out: when one copy cannot be sent, none is, and the message is dead-lettered', async () => {
    const queue = uniqueName('fanout');
    const sink = uniqueName('sink');
    h.warren = await startRoute(
      h,
      queue,
      'quorum',
      'to: { plugin: { file: split.js } }',
      `queues:\n  ${sink}: {}\n`,
      {
        'split.js': `export default () => [{ exchange: '', routingKey: '${sink}' }, { exchange: '', routingKey: 'é'.repeat(200) }]`,
      },
    );
    await h.broker.publish('', queue, '{}', { messageId: 'split' });
    const [dead] = await drainAll(h, `${queue}.dlq`, 1);
    expect(String(headersOf(dead!)['x-warren-error'])).toBe(
      'plugin split.js output split.1: routing key is 400 bytes once decoded, over 255',
    );
    expect(await h.broker.depth(sink)).toBe(0);
  });

  it('DLQ redrive: a message whose headers cannot be sent moves with the headers that can', async () => {
    const dlq = uniqueName('redrive.dlq');
    const to = uniqueName('redrive');
    for (const q of [dlq, to])
      await h.broker.channel.assertQueue(q, { arguments: { 'x-queue-type': 'quorum' } });
    h.broker.track('queue', dlq, to);
    await publishForms(dlq);
    const result = await redriveQueue(
      { consume: h.broker.connection, publish: h.broker.connection },
      { from: dlq, to },
    );
    const lossy = hostileForms.filter((f) => !f.lossless).length;
    expect(result).toEqual({
      from: dlq,
      to,
      requested: hostileForms.length + 1,
      moved: hostileForms.length + 1,
      sanitized: lossy,
    });
    const moved = byId(await drainAll(h, to, hostileForms.length + 1));
    for (const form of hostileForms) expectCarried(form, moved.get(idOf(form))!, true);
    expect(await h.broker.depth(dlq)).toBe(0);
  });
});

/** Starts Warren with one route `r` from `queue` (declared as `type`). */
function startRoute(
  h: ReturnType<typeof useHarness>,
  queue: string,
  type: 'quorum' | 'classic',
  to: string,
  queues = '',
  plugins?: Record<string, string>,
): Promise<RunningWarren> {
  const declared = type === 'classic' ? `${queues || 'queues:\n'}  ${queue}: { type: classic }\n` : queues;
  return startWarren(
    {
      'routes.yaml': `${declared}
routes:
  r:
    from: { queue: ${queue} }
    ${to}
`,
    },
    h.broker,
    plugins ? { plugins } : {},
  );
}

/** Republish and plugin output: lossless forms (and the plain message) reach the sink as they
 * are; the others are in the DLQ with the reason, never in the sink. */
async function expectForwarded(
  h: ReturnType<typeof useHarness>,
  queue: string,
  sink: string,
  prefix: string,
): Promise<void> {
  const lossless = hostileForms.filter((f) => f.lossless);
  const lossy = hostileForms.filter((f) => !f.lossless);
  const forwarded = byId(await drainAll(h, sink, lossless.length + 1));
  const dead = byId(await drainAll(h, `${queue}.dlq`, lossy.length));
  expect([...forwarded.keys()].sort()).toEqual([...lossless.map(idOf), 'plain'].sort());
  expect([...dead.keys()].sort()).toEqual(lossy.map(idOf).sort());
  for (const form of lossless) expectCarried(form, forwarded.get(idOf(form))!, false);
  for (const form of lossy) {
    const m = dead.get(idOf(form))!;
    expectCarried(form, m, true);
    const error = String(headersOf(m)['x-warren-error']);
    expect(error.startsWith(`${prefix}headers cannot be re-encoded: `), error).toBe(true);
    expect(headersOf(m)['x-warren-attempts']).toBe(1);
  }
  await waitFor('the source queue empty', async () => (await h.broker.depth(queue)) === 0);
  expect(h.warren!.logs.filter((l) => l.event === 'publish_failed')).toEqual([]);
}
