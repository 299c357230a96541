import type { GetMessage } from 'amqplib';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import type { ReceivedRequest } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/** Two Standard Webhooks keys (`whsec_` + base64 of 32 bytes). */
const oldKey = `whsec_${Buffer.from('the old key, thirty-two bytes ok').toString('base64')}`;
const newKey = `whsec_${Buffer.from('the new key, thirty-two bytes ok').toString('base64')}`;

/** The webhook headers a Standard Webhooks verifier reads, from a received request. */
function signed(req: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(req.headers['webhook-id']),
    'webhook-timestamp': String(req.headers['webhook-timestamp']),
    'webhook-signature': String(req.headers['webhook-signature']),
  };
}

/** What the reference library says of a request: verified, or rejected for its signature. */
function verifies(secret: string, body: string, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch (err) {
    if (err instanceof WebhookVerificationError) return false;
    throw err;
  }
}

describe('webhook delivery policies', () => {
  const h = useHarness();
  let exchange: string;
  let queue: string;

  /** One topic exchange and one webhook route; `webhook` and `extra` are YAML flow/lines. */
  async function start(
    webhook: string,
    extra = '    retry: { attempts: 3, backoff: [200ms] }',
  ): Promise<void> {
    exchange = uniqueName('policies');
    queue = uniqueName('policies.q');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  policed:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to:
      webhook: { url: "${h.receiver.url()}", timeout: 2s, ${webhook} }
${extra}
`,
      },
      h.broker,
    );
  }

  const deliveries = (outcome?: string) =>
    (h.warren?.logs ?? []).filter((l) => l.event === 'delivery' && (!outcome || l.outcome === outcome));

  /** Source queue empty and nothing held by the route: every delivery was settled. */
  const settled = async (): Promise<boolean> =>
    (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0);

  async function dlqMessage(): Promise<GetMessage> {
    await waitFor('a message in the DLQ', async () => (await h.broker.depth(`${queue}.dlq`)) >= 1);
    await waitFor('the source queue to be settled', settled);
    const messages = await h.broker.drain(`${queue}.dlq`);
    expect(messages).toHaveLength(1);
    return messages[0]!;
  }

  describe('status policy', () => {
    it('puts the retry of a 429 with Retry-After: 7 in the smallest tier at or above it (10s)', async () => {
      h.receiver.responder = (_req, _n, res) => {
        res.setHeader('retry-after', '7');
        return 429;
      };
      await start('headers: {}', '    retry: { attempts: 5, backoff: [1s, 5s, 10s, 1m] }');
      await h.broker.publish(exchange, 'order.created', 'throttled', { messageId: 'ra-7' });
      const tier = `warren.retry.${queue}.10s`;
      await waitFor('the retry copy in the 10s tier', async () => (await h.broker.depth(tier)) === 1);
      await waitFor('the source queue to be settled', settled);
      for (const other of ['1s', '5s', '1m'])
        expect(await h.broker.depth(`warren.retry.${queue}.${other}`)).toBe(0);
      // Taken out before its 10 s are up, so it never comes back for a second try.
      const [copy] = await h.broker.drain(tier);
      expect(copy!.content.toString()).toBe('throttled');
      expect(copy!.properties.headers?.['x-warren-attempt']).toBe(2);
      expect(deliveries('retry')).toEqual([expect.objectContaining({ status: 429 })]);
      expect(h.receiver.requests).toHaveLength(1);
    });

    it('retries a 409 named in retryOn, then acks the 200', async () => {
      h.receiver.responder = (_req, n) => (n === 0 ? 409 : 200);
      await start('retryOn: [409]');
      await h.broker.publish(exchange, 'order.created', 'conflict', { messageId: 'c-1' });
      await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
      await waitFor('the source queue to be settled', settled);
      expect(h.receiver.requests.map((r) => r.headers['x-warren-attempt'])).toEqual(['1', '2']);
      expect(deliveries('retry')).toEqual([expect.objectContaining({ status: 409 })]);
      expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
    });

    it('dead-letters a 503 named in deadLetterOn at once, Retry-After notwithstanding', async () => {
      h.receiver.responder = (_req, _n, res) => {
        res.setHeader('retry-after', '1');
        return 503;
      };
      await start('deadLetterOn: [503]');
      await h.broker.publish(exchange, 'order.created', 'unavailable', { messageId: 'u-1' });
      const dead = await dlqMessage();
      const headers = dead.properties.headers!;
      expect(headers['x-warren-status']).toBe(503);
      expect(headers['x-warren-attempts']).toBe(1);
      expect(String(headers['x-warren-error'])).toMatch(/^HTTP 503/);
      expect(headers['x-warren-route']).toBe('policed');
      expect(dead.content.toString()).toBe('unavailable');
      expect(h.receiver.requests).toHaveLength(1);
      expect(deliveries('retry')).toHaveLength(0);
    });
  });

  describe('Standard Webhooks signatures', () => {
    it('signs every attempt so the receiver verifies it; a changed body or signature is rejected', async () => {
      const verdicts: boolean[] = [];
      h.receiver.responder = (req, n) => {
        const ok = verifies(oldKey, req.body, signed(req));
        verdicts.push(ok);
        if (!ok) return 401;
        return n === 0 ? 500 : 200; // the retry is signed afresh
      };
      await start(`sign: { secret: "${oldKey}" }`);
      await h.broker.publish(exchange, 'order.paid', '{"id":"o-1","amount":12.5}', {
        messageId: 'pay-1',
        contentType: 'application/json',
      });
      await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
      expect(verdicts).toEqual([true, true]);
      const req = h.receiver.requests[1]!;
      expect(String(req.headers['webhook-signature'])).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(verifies(oldKey, '{"id":"o-1","amount":99}', signed(req))).toBe(false);
      const forged = { ...signed(req), 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}` };
      expect(verifies(oldKey, req.body, forged)).toBe(false);
      expect(verifies(newKey, req.body, signed(req))).toBe(false);
    });

    it('signs with both keys during a rotation, so receivers holding either verify', async () => {
      await start(`sign: { secret: ["${oldKey}", "${newKey}"] }`);
      await h.broker.publish(exchange, 'order.paid', 'rotating', { messageId: 'rot-1' });
      await waitFor('the request', () => h.receiver.requests.length === 1);
      const req = h.receiver.requests[0]!;
      expect(String(req.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verifies(oldKey, req.body, signed(req))).toBe(true);
      expect(verifies(newKey, req.body, signed(req))).toBe(true);
    });
  });

  describe('body modes', () => {
    it('sends CloudEvents attributes from cloudEvents_* AMQP headers as ce-* headers', async () => {
      await start('body: cloudevents');
      await h.broker.publish(exchange, 'order.created', '{"id":"o-9"}', {
        messageId: 'msg-9',
        contentType: 'application/json',
        headers: {
          cloudEvents_specversion: '1.0',
          cloudEvents_type: 'com.example.order.created',
          cloudEvents_source: '/shop/orders',
          cloudEvents_id: 'evt-9',
          cloudEvents_time: { '!': 'timestamp', value: 1522900584 },
          'cloudEvents:subject': 'order o-9',
          tenant: 'acme',
        },
      });
      await waitFor('the request', () => h.receiver.requests.length === 1);
      const req = h.receiver.requests[0]!;
      expect(req.headers).toMatchObject({
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-type': 'com.example.order.created',
        'ce-source': '/shop/orders',
        'ce-id': 'evt-9',
        'ce-time': '2018-04-05T03:56:24Z',
        'ce-subject': 'order%20o-9',
        'webhook-id': 'msg-9',
      });
      expect(req.headers.tenant).toBeUndefined();
      expect(req.body).toBe('{"id":"o-9"}');
      await waitFor('the ack', () => deliveries('ack').length === 1);
    });

    it('dead-letters a message without a CloudEvents type, without calling the receiver', async () => {
      await start('body: cloudevents');
      await h.broker.publish(exchange, 'order.created', 'untyped', {
        messageId: 'msg-10',
        headers: { cloudEvents_source: '/shop/orders' },
      });
      const dead = await dlqMessage();
      expect(String(dead.properties.headers!['x-warren-error'])).toMatch(/^cloudevents: no type attribute/);
      expect(dead.properties.headers!['x-warren-status']).toBeUndefined();
      expect(h.receiver.requests).toHaveLength(0);
    });

    it('wraps the message in a signed JSON envelope that tells the attempt, without bookkeeping headers', async () => {
      h.receiver.responder = (req, n) =>
        verifies(newKey, req.body, signed(req)) ? (n === 0 ? 503 : 200) : 401;
      await start(`body: envelope, sign: { secret: "${newKey}" }`);
      await h.broker.publish(exchange, 'order.created', '{"id":"o-11","total":12345678901234567890}', {
        messageId: 'msg-11',
        contentType: 'application/json',
        correlationId: 'corr-11',
        headers: { tenant: 'acme' },
      });
      await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
      const [first, second] = h.receiver.requests;
      expect(second!.headers['content-type']).toBe('application/json');
      // The body is embedded byte for byte: the 20-digit total is not rounded.
      expect(second!.body).toContain('"body":{"id":"o-11","total":12345678901234567890}}');
      const envelope = JSON.parse(second!.body) as Record<string, unknown>;
      expect(envelope).toMatchObject({
        id: 'msg-11',
        route: 'policed',
        exchange,
        routingKey: 'order.created',
        attempt: 2,
        redelivered: false,
        properties: { contentType: 'application/json', correlationId: 'corr-11', messageId: 'msg-11' },
        headers: { tenant: 'acme' },
        bodyEncoding: 'json',
      });
      // The retry copy's x-warren-* headers and the broker's x-death stay out of the envelope.
      expect(Object.keys(envelope.headers as object)).toEqual(['tenant']);
      expect(JSON.parse(first!.body)).toMatchObject({ attempt: 1 });
    });
  });
});
