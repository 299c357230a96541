import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import fc from 'fast-check';
import { Headers } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookTargetSpec } from '../../src/config/types.js';
import { stableId, toDelivery } from '../../src/delivery/delivery.js';
import { isWebhookId, percentEncode } from '../../src/targets/header-value.js';
import type { Handler, TargetDeps } from '../../src/targets/types.js';
import { webhookTarget } from '../../src/targets/webhook.js';
import { planRequest } from '../../src/targets/webhook-request.js';
import { isValidTracestate } from '../../src/telemetry/trace.js';
import { closedPort, Receiver } from '../helpers/receiver.js';

/** undici's own rule for a header value it will send (lib/core/util.js `isValidHeaderValue`). */
const undiciRefuses = /[^\t\x20-\x7e\x80-\xff]/;

/** What undici's Headers accepts (a ByteString without CR, LF or NUL); throws otherwise. */
function headersAccept(value: string): boolean {
  new Headers().set('x-warren-routing-key', value);
  return true;
}

/** Any UTF-16 string, lone surrogates included (what a JS string can hold). */
const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

describe('percentEncode (every value Warren puts in a header)', () => {
  it('yields a value undici accepts and that decodes back to the original, for any Unicode string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        const value = percentEncode(text);
        expect(value).toMatch(/^[\x21-\x7e]*$/);
        expect(undiciRefuses.test(value)).toBe(false);
        expect(headersAccept(value)).toBe(true);
        expect(decodeURIComponent(value)).toBe(text);
      }),
      { seed: 42, numRuns: 2_000 },
    );
  });

  it('yields a valid header value for any UTF-16 string, lone surrogates too', () => {
    fc.assert(
      fc.property(anyUnits, (text) => {
        const value = percentEncode(text);
        expect(value).toMatch(/^[\x21-\x7e]*$/);
        expect(headersAccept(value)).toBe(true);
      }),
      { seed: 42, numRuns: 2_000 },
    );
  });

  it('leaves an ordinary value as it is (the same string) and encodes `%` and `"`', () => {
    const key = 'order.created.eu-west_1';
    expect(percentEncode(key)).toBe(key);
    expect(percentEncode('ord.заказ')).toBe('ord.%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7');
    expect(percentEncode('a\r\nx-injected: 1')).toBe('a%0D%0Ax-injected:%201');
    expect(percentEncode('100% "sure"')).toBe('100%25%20%22sure%22');
  });
});

/** What a message-id that cannot be a webhook-id becomes: a hash of the id itself. */
function hashedId(messageId: string): string {
  return `msg_${createHash('sha256').update(messageId).digest('hex').slice(0, 32)}`;
}

describe('webhook-id and tracestate', () => {
  it('takes a visible-ASCII message-id as it is and refuses one HTTP cannot carry', () => {
    expect(isWebhookId('order-1001')).toBe(true);
    for (const bad of ['', 'заказ-1', 'a\r\nb', 'a b', 'x'.repeat(256)]) expect(isWebhookId(bad)).toBe(false);
  });

  it('accepts W3C tracestates and refuses malformed ones', () => {
    for (const good of [
      'congo=t61rcWkgMzE',
      'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE',
      'a@b=c',
      ' x=1 ,,y=2',
    ])
      expect(isValidTracestate(good), good).toBe(true);
    for (const bad of ['', 'vendor=заказ', 'a=1\r\nx: y', 'Upper=1', 'novalue', 'a=b=c', ','])
      expect(isValidTracestate(bad), bad).toBe(false);
    expect(isValidTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','))).toBe(false);
  });

  it('refuses runs of spaces and commas without backtracking for ever (a tracestate of 55 such characters once held the event loop for 28 s)', () => {
    expect(isValidTracestate(`${' , '.repeat(5_000)}\x01`)).toBe(false);
    expect(isValidTracestate(`${'a=1 \t '.repeat(2_000)}\x01`)).toBe(false);
    expect(isValidTracestate('x'.repeat(100_000))).toBe(false);
    // Any mix of the characters the list is made of: each answers (a backtracking regex would hang the run).
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(' ', '\t', ',', 'a', '=', '1', '@', '\x01'), maxLength: 300 }),
        (text) => {
          expect(typeof isValidTracestate(text)).toBe('boolean');
        },
      ),
      { seed: 42, numRuns: 2_000 },
    );
  });

  it('gives two messages whose ids cannot be webhook-ids two different hashed ids', () => {
    const build = planRequest(webhookTarget.normalize({ url: 'http://127.0.0.1:9/hook' }));
    const idOf = (messageId: string) => {
      const msg = {
        content: Buffer.from('{"same":"body"}'),
        fields: { deliveryTag: 1, redelivered: false, exchange: 'x', routingKey: 'k' },
        properties: { messageId, headers: {} },
      } as unknown as ConsumeMessage;
      const request = build(toDelivery(msg, 'route'), '1700000000');
      if ('refused' in request) throw new Error(request.refused);
      return request.headers[request.headers.indexOf('webhook-id') + 1];
    };
    const ids = ['заказ-1', 'заказ-2', 'order 1', 'order 2'].map(idOf);
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]).toBe(hashedId('заказ-1'));
    expect(idOf('заказ-1')).toBe(ids[0]);
  });

  it('every request built from an arbitrary routing key, exchange, ids and tracestate has valid headers only', () => {
    const spec = webhookTarget.normalize({ url: 'http://127.0.0.1:9/hook', body: 'cloudevents' });
    const build = planRequest(spec);
    fc.assert(
      fc.property(
        fc.record({
          routingKey: anyUnits,
          exchange: anyUnits,
          messageId: anyUnits,
          tracestate: anyUnits,
          traceparent: anyUnits,
          source: anyUnits,
          type: anyUnits,
        }),
        (v) => {
          const msg = {
            content: Buffer.from('{}'),
            fields: { deliveryTag: 1, redelivered: false, exchange: v.exchange, routingKey: v.routingKey },
            properties: {
              messageId: v.messageId,
              headers: {
                tracestate: v.tracestate,
                traceparent: v.traceparent,
                cloudEvents_source: `/${v.source}`,
                cloudEvents_type: `t${v.type}`,
              },
            },
          } as unknown as ConsumeMessage;
          const request = build(toDelivery(msg, 'route'), '1700000000');
          if ('refused' in request) throw new Error(request.refused);
          for (let i = 1; i < request.headers.length; i += 2) {
            expect(undiciRefuses.test(request.headers[i]!), request.headers[i - 1]).toBe(false);
            expect(request.headers[i]).toMatch(/^[\x20-\x7e]*$/);
          }
          const id = request.headers[request.headers.indexOf('webhook-id') + 1]!;
          // No message-id at all: the delivery's own hashed id, which is always a valid webhook-id.
          const expected =
            v.messageId === ''
              ? stableId(msg, v.exchange, v.routingKey)
              : isWebhookId(v.messageId)
                ? v.messageId
                : hashedId(v.messageId);
          expect(id).toBe(expected);
        },
      ),
      { seed: 42, numRuns: 1_000 },
    );
  });
});

describe('a request undici refuses to build', () => {
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await Receiver.start();
  });
  afterEach(async () => {
    await receiver.close();
  });

  const message = {
    content: Buffer.from('x'),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'x', routingKey: 'k' },
    properties: { headers: {} },
  } as unknown as ConsumeMessage;

  // Route headers are checked when the file loads; built past that check, a CR/LF value is what
  // undici refuses (UND_ERR_INVALID_ARG), the same error a message value used to cause.
  /** The webhook needs nothing of the deps (no publisher, no sandbox). */
  const create = async (s: WebhookTargetSpec): Promise<Handler> => webhookTarget.create(s, {} as TargetDeps);

  const spec = (url: string): WebhookTargetSpec =>
    ({
      ...webhookTarget.normalize({ url }),
      headers: { 'x-bad': 'a\r\nx-injected: 1' },
    }) as WebhookTargetSpec;

  it('is dead-lettered without a status (the circuit counts it neither way), and nothing is sent', async () => {
    const outcome = await (await create(spec(receiver.url())))(toDelivery(message, 'r'));
    expect(outcome).toEqual({
      kind: 'dead-letter',
      reason: 'request refused before sending: invalid x-bad header',
    });
    expect(receiver.requests).toHaveLength(0);
  });

  it('while a refused connection stays a retry', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/hook`;
    const outcome = await (await create(webhookTarget.normalize({ url })))(toDelivery(message, 'r'));
    expect(outcome).toEqual({ kind: 'retry', reason: 'connection error: ECONNREFUSED' });
  });
});
