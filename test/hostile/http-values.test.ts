import { createHash } from 'node:crypto';
import type { GetMessage, Options } from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { stableId } from '../../src/delivery/delivery.js';
import { percentEncode } from '../../src/targets/header-value.js';
import { retryTierQueue } from '../../src/topology/plan.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import type { ReceivedRequest } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * Issue 9 §2: values legal in AMQP that HTTP cannot carry as they are (non-Latin-1 UTF-8, CR/LF)
 * in every place a message puts one into a request. Against the real broker and a loopback
 * receiver: each is delivered with a valid, decodable header, or — where no header can say it —
 * dead-lettered at once with the reason. Never retried, never counted by the circuit.
 */

const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const freshTraceparent = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;
const crlf = 'x\r\nx-injected: 1';
/** Messages sit this long in the delay tier: a retry copy stays there to be counted. */
const tierDelay = 600_000;

const routes = (x: { raw: string; ce: string; env: string }, q: typeof x, url: (p: string) => string) => `
exchanges:
  ${x.raw}: { type: topic }
  ${x.ce}: { type: topic }
  ${x.env}: { type: topic }
routes:
  hostile-raw:
    from: { queue: ${q.raw}, bind: [{ exchange: ${x.raw}, key: "#" }] }
    retry: { attempts: 3, backoff: [10m] }
    to: { webhook: { url: "${url('/raw')}", timeout: 5s } }
  hostile-ce:
    from: { queue: ${q.ce}, bind: [{ exchange: ${x.ce}, key: "#" }] }
    retry: { attempts: 3, backoff: [10m] }
    to: { webhook: { url: "${url('/ce')}", body: cloudevents, timeout: 5s } }
  hostile-env:
    from: { queue: ${q.env}, bind: [{ exchange: ${x.env}, key: "#" }] }
    retry: { attempts: 3, backoff: [10m] }
    to: { webhook: { url: "${url('/env')}", body: envelope, timeout: 5s } }
`;

describe('header values HTTP cannot carry as they are', () => {
  const h = useHarness('all');
  const x = { raw: uniqueName('hostile.raw'), ce: uniqueName('hostile.ce'), env: uniqueName('hostile.env') };
  const q = {
    raw: uniqueName('hostile.raw.q'),
    ce: uniqueName('hostile.ce.q'),
    env: uniqueName('hostile.env.q'),
  };

  beforeAll(async () => {
    h.warren = await startWarren({ 'r.yaml': routes(x, q, (p) => h.receiver.url(p)) }, h.broker);
  });

  /** Publishes a message whose body names the case, and returns that name. */
  async function publish(exchange: string, key: string, name: string, options: Options.Publish = {}) {
    await h.broker.publish(exchange, key, JSON.stringify({ case: name }), options);
    return name;
  }

  /** The case named in a request or DLQ message: the body as published, or inside an envelope. */
  const caseOf = (body: string): string | undefined => {
    const parsed = JSON.parse(body) as { case?: string; body?: string | { case?: string } };
    // An envelope: the body embedded as JSON, or as text when the message was not JSON.
    const inner =
      typeof parsed.body === 'string' ? (JSON.parse(parsed.body) as { case?: string }) : parsed.body;
    return parsed.case ?? inner?.case;
  };

  const received = (name: string): Promise<ReceivedRequest> =>
    waitFor(`the receiver to get ${name}`, () => h.receiver.requests.find((r) => caseOf(r.body) === name));

  const dlq = new Map<string, GetMessage>();
  /** The dead letter of case `name`, from the route's DLQ (taken as they arrive). */
  async function deadLetter(queue: string, name: string): Promise<GetMessage> {
    return waitFor(`${name} in ${queue}.dlq`, async () => {
      for (const m of await h.broker.drain(`${queue}.dlq`)) dlq.set(caseOf(m.content.toString())!, m);
      return dlq.get(name);
    });
  }

  /** Every delivery of the route settled, no retry copy made, and the circuit never moved. */
  async function neverRetried(queue: string, route: string) {
    await waitFor('the route to settle', async () => {
      const r = h.warren!.runtime.describe().routes.find((d) => d.name === route);
      return (await h.broker.depth(queue)) === 0 && r?.inFlight === 0;
    });
    expect(await h.broker.depth(retryTierQueue(queue, tierDelay))).toBe(0);
    expect(h.warren!.logs.filter((l) => l.event === 'delivery' && l.outcome === 'retry')).toEqual([]);
    expect(h.warren!.logs.filter((l) => l.event === 'circuit')).toEqual([]);
  }

  it('percent-encodes a routing key with non-Latin-1 UTF-8 or CR/LF in x-warren-routing-key', async () => {
    for (const [name, key] of [
      ['rk-utf8', 'ord.заказ'],
      ['rk-crlf', `ord.${crlf}`],
    ] as const) {
      await publish(x.raw, key, name, { messageId: `m-${name}` });
      const r = await received(name);
      expect(r.headers['x-warren-routing-key']).toBe(percentEncode(key));
      expect(decodeURIComponent(String(r.headers['x-warren-routing-key']))).toBe(key);
      expect(r.headers['x-injected']).toBeUndefined();
      expect(r.headers['webhook-id']).toBe(`m-${name}`);
    }
    await neverRetried(q.raw, 'hostile-raw');
  });

  it('gives a message-id that cannot be a webhook-id a hash of that id', async () => {
    for (const [name, messageId] of [
      ['mid-utf8', 'заказ-1'],
      ['mid-crlf', `m${crlf}`],
    ] as const) {
      await publish(x.raw, 'k', name, { messageId });
      const r = await received(name);
      // A hash of the message-id itself: stable across retries, distinct for distinct ids.
      const hashed = `msg_${createHash('sha256').update(messageId).digest('hex').slice(0, 32)}`;
      expect(r.headers['webhook-id']).toBe(hashed);
      expect(r.headers['x-injected']).toBeUndefined();
    }
    await neverRetried(q.raw, 'hostile-raw');
  });

  it('delivers a correlation id with UTF-8 or CR/LF (it enters the hashed id and the envelope only)', async () => {
    for (const [name, correlationId] of [
      ['cid-utf8', 'корр-1'],
      ['cid-crlf', `c${crlf}`],
    ] as const) {
      await publish(x.raw, 'k', name, { correlationId });
      const r = await received(name);
      const content = Buffer.from(JSON.stringify({ case: name }));
      expect(r.headers['webhook-id']).toBe(
        stableId({ content, properties: { correlationId, headers: {} } } as never, x.raw, 'k'),
      );
      await publish(x.env, 'k', `env-${name}`, { correlationId, messageId: `e-${name}` });
      const envelope = await received(`env-${name}`);
      expect(JSON.parse(envelope.body).properties.correlationId).toBe(correlationId);
    }
    await neverRetried(q.raw, 'hostile-raw');
    await neverRetried(q.env, 'hostile-env');
  });

  it('drops a tracestate that is not a valid one, and keeps the traceparent', async () => {
    for (const [name, tracestate] of [
      ['ts-utf8', 'vendor=заказ'],
      ['ts-crlf', `v=1${crlf}`],
      ['ts-valid', 'congo=t61rcWkgMzE'],
    ] as const) {
      await publish(x.raw, 'k', name, { messageId: name, headers: { traceparent, tracestate } });
      const r = await received(name);
      expect(r.headers.traceparent).toBe(traceparent);
      expect(r.headers.tracestate).toBe(name === 'ts-valid' ? tracestate : undefined);
      expect(r.headers['x-injected']).toBeUndefined();
    }
    await neverRetried(q.raw, 'hostile-raw');
  });

  it('starts a fresh traceparent for one with UTF-8 or CR/LF', async () => {
    for (const [name, value] of [
      ['tp-utf8', `00-заказ${traceparent.slice(8)}`],
      ['tp-crlf', `${traceparent}${crlf}`],
    ] as const) {
      await publish(x.raw, 'k', name, { messageId: name, headers: { traceparent: value } });
      const r = await received(name);
      expect(r.headers.traceparent).toMatch(freshTraceparent);
      expect(r.headers.traceparent).not.toBe(traceparent);
      expect(r.headers['x-injected']).toBeUndefined();
    }
    await neverRetried(q.raw, 'hostile-raw');
  });

  it('percent-encodes CloudEvents attributes (HTTP binding) and gives ce-id the hashed webhook-id', async () => {
    const attributes = {
      cloudEvents_source: '/магазин/заказы',
      cloudEvents_type: `order${crlf}`,
      cloudEvents_subject: '100% "заказ"',
    };
    await publish(x.ce, 'k', 'ce-hostile', { messageId: 'заказ-7', headers: attributes });
    const r = await received('ce-hostile');
    expect(decodeURIComponent(String(r.headers['ce-source']))).toBe(attributes.cloudEvents_source);
    expect(decodeURIComponent(String(r.headers['ce-type']))).toBe(attributes.cloudEvents_type);
    expect(decodeURIComponent(String(r.headers['ce-subject']))).toBe(attributes.cloudEvents_subject);
    expect(r.headers['ce-type']).toBe('orderx%0D%0Ax-injected:%201');
    expect(r.headers['ce-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(r.headers['ce-id']).toBe(r.headers['webhook-id']);
    expect(r.headers['x-injected']).toBeUndefined();
    await neverRetried(q.ce, 'hostile-ce');
  });

  it('carries hostile values in the envelope as JSON strings, and its id is the webhook-id', async () => {
    const key = `ord.заказ.${crlf}`;
    await publish(x.env, key, 'env-hostile', { messageId: 'заказ-9', contentType: 'application/json' });
    const r = await received('env-hostile');
    const envelope = JSON.parse(r.body) as Record<string, unknown>;
    expect(envelope.routingKey).toBe(key);
    expect(envelope.id).toBe(r.headers['webhook-id']);
    expect(envelope.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(envelope.properties).toMatchObject({ messageId: 'заказ-9' });
    expect(decodeURIComponent(String(r.headers['x-warren-routing-key']))).toBe(key);
    await neverRetried(q.env, 'hostile-env');
  });

  it('dead-letters at once, with the reason, a content-type no header can carry', async () => {
    const cases = [
      [q.raw, x.raw, 'ct-utf8', { contentType: 'text/plain; charset=заказ' }],
      [q.raw, x.raw, 'ct-crlf', { contentType: `text/plain${crlf}` }],
      [q.raw, x.raw, 'ce-crlf', { contentEncoding: `gzip${crlf}` }],
      [
        q.ce,
        x.ce,
        'dct-crlf',
        {
          headers: {
            cloudEvents_source: '/s',
            cloudEvents_type: 't',
            cloudEvents_datacontenttype: `application/json${crlf}`,
          },
        },
      ],
    ] as const;
    for (const [queue, exchange, name, options] of cases) {
      await publish(exchange, 'k', name, { messageId: name, ...options });
      const dead = await deadLetter(queue, name);
      const what = name === 'ce-crlf' ? 'content-encoding' : 'content-type';
      expect(String(dead.properties.headers?.['x-warren-error'])).toBe(
        `the message's ${what} cannot be an HTTP header value (control characters or non-ASCII)`,
      );
      expect(h.receiver.requests.some((r) => r.body.includes(`"${name}"`))).toBe(false);
    }
    await neverRetried(q.raw, 'hostile-raw');
    await neverRetried(q.ce, 'hostile-ce');
  });
});

describe('hostile values and the circuit', () => {
  const h = useHarness('all');

  it('25 hostile messages leave the default circuit of a healthy receiver closed; ordinary ones after them are delivered', async () => {
    const exchange = uniqueName('starve');
    const queue = uniqueName('starve.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  starve:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    retry: { attempts: 3, backoff: [10m] }
    to: { webhook: { url: "${h.receiver.url()}", timeout: 5s } }
`,
      },
      h.broker,
    );
    const hostile: Array<[string, Options.Publish]> = [
      ['ord.заказ', { messageId: 'заказ' }],
      [`ord.${crlf}`, { messageId: `m${crlf}`, correlationId: `c${crlf}` }],
      ['k', { headers: { tracestate: `v=заказ${crlf}`, traceparent: `x${crlf}` } }],
      ['k', { contentType: `text/plain${crlf}` }], // the one a header cannot carry: dead-lettered
      ['k', { contentType: 'text/заказ' }],
    ];
    for (let i = 0; i < 25; i++) {
      const [key, options] = hostile[i % hostile.length]!;
      h.broker.channel.publish(exchange, key, Buffer.from(`hostile-${i}`), { persistent: true, ...options });
    }
    for (let i = 0; i < 20; i++) {
      h.broker.channel.publish(exchange, 'order.created', Buffer.from(`ordinary-${i}`), {
        persistent: true,
        messageId: `ordinary-${i}`,
      });
    }
    await h.broker.channel.waitForConfirms();

    await waitFor('the ordinary messages', () =>
      Array.from({ length: 20 }, (_, i) => `ordinary-${i}`).every((id) => h.receiver.ids().has(id)),
    );
    await waitFor('the route to settle', async () => (await h.broker.depth(queue)) === 0);
    await waitFor('the dead letters', async () => (await h.broker.depth(`${queue}.dlq`)) === 10);
    expect(h.receiver.requests.filter((r) => r.body.startsWith('hostile-'))).toHaveLength(15);
    expect(h.warren.runtime.describe().routes[0]!.circuit).toMatchObject({ state: 'closed', failures: 0 });
    expect(h.warren.logs.filter((l) => l.event === 'circuit')).toEqual([]);
    expect(await h.broker.depth(retryTierQueue(queue, tierDelay))).toBe(0);
  });
});
