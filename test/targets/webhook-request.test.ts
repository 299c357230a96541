import type { ConsumeMessage, MessageProperties } from 'amqplib';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { WebhookTargetSpec } from '../../src/config/types.js';
import { toDelivery } from '../../src/delivery/delivery.js';
import type { Delivery } from '../../src/delivery/types.js';
import { headerRecord } from '../../src/route-tests/webhook.js';
import { webhookTarget } from '../../src/targets/webhook.js';
import { percentEncode } from '../../src/targets/webhook-cloudevents.js';
import { planRequest, type Refusal, type WebhookRequest } from '../../src/targets/webhook-request.js';

const secret = `whsec_${Buffer.from('thirty-two bytes of key material').toString('base64')}`;
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function spec(raw: Record<string, unknown>): WebhookTargetSpec {
  return webhookTarget.normalize({ url: 'http://127.0.0.1:9/hook', ...raw });
}

function delivery(
  body: string | Buffer,
  properties: Partial<MessageProperties> = {},
  fields: { exchange?: string; routingKey?: string; redelivered?: boolean } = {},
): Delivery {
  const msg = {
    content: Buffer.isBuffer(body) ? body : Buffer.from(body),
    fields: {
      deliveryTag: 1,
      redelivered: fields.redelivered ?? false,
      exchange: fields.exchange ?? 'orders',
      routingKey: fields.routingKey ?? 'order.created',
      consumerTag: 'c',
    },
    properties: { headers: {}, ...properties },
  } as ConsumeMessage;
  return toDelivery(msg, 'billing');
}

function build(s: WebhookTargetSpec, d: Delivery, timestamp = '1700000000'): WebhookRequest {
  const request = planRequest(s)(d, timestamp);
  if ('refused' in request) throw new Error(`refused: ${request.refused}`);
  return request;
}

function refusal(s: WebhookTargetSpec, d: Delivery): string {
  const request = planRequest(s)(d, '1700000000');
  expect(request).toHaveProperty('refused');
  return (request as Refusal).refused;
}

describe('body: raw', () => {
  it('sends the body as it is, with its content-type, encoding and the contract headers', () => {
    const d = delivery(
      'hello',
      { contentType: 'text/plain', contentEncoding: 'identity', messageId: 'm-1', headers: { traceparent } },
      { redelivered: true },
    );
    const request = build(spec({ headers: { 'x-tenant': 'acme', 'webhook-id': 'forged' } }), d);
    expect(request.body).toBe(d.content);
    expect(headerRecord(request.headers)).toEqual({
      'content-type': 'text/plain',
      'content-encoding': 'identity',
      'webhook-id': 'm-1',
      'webhook-timestamp': '1700000000',
      'x-warren-route': 'billing',
      'x-warren-attempt': '1',
      'x-warren-exchange': 'orders',
      'x-warren-routing-key': 'order.created',
      'x-warren-redelivered': 'true',
      traceparent,
      'x-tenant': 'acme',
    });
  });

  it('sends no webhook-signature without `sign`, and a route cannot forge one', () => {
    const request = build(spec({ headers: { 'Webhook-Signature': 'v1,forged' } }), delivery('x'));
    expect(headerRecord(request.headers)['webhook-signature']).toBeUndefined();
  });

  it('signs the body with the id and timestamp it sends', () => {
    const now = `${Math.floor(Date.now() / 1000)}`;
    const request = build(spec({ sign: { secret } }), delivery('{"id":1}', { messageId: 'm-2' }), now);
    const headers = headerRecord(request.headers);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(request.body.toString(), headers)).toEqual({ id: 1 });
  });
});

describe('body: envelope', () => {
  const envelope = spec({ body: 'envelope' });

  it('embeds a JSON body byte for byte, big integers and all, with the delivery around it', () => {
    const body = '{"id": 12345678901234567890, "price": 1.50}';
    const d = delivery(
      body,
      {
        contentType: 'application/json; charset=utf-8',
        messageId: 'm-3',
        correlationId: 'c-9',
        timestamp: 1700000000,
        deliveryMode: 2,
        headers: {
          tenant: 'acme',
          traceparent,
          'x-warren-attempt': 3,
          'x-warren-original-exchange': 'orders',
          'x-warren-original-routing-key': 'order.paid',
          'x-death': [
            {
              count: 2,
              reason: 'expired',
              queue: 'warren.retry.billing.q.1s',
              time: { '!': 'timestamp', value: 1700000000 },
              exchange: '',
              'routing-keys': ['warren.retry.billing.q.1s'],
            },
          ],
          'x-first-death-reason': 'expired',
        },
      },
      { exchange: '', routingKey: 'billing.q' },
    );
    const request = build(envelope, d);
    const text = request.body.toString();
    expect(text).toContain(`"body":${body}}`);
    expect(headerRecord(request.headers)['content-type']).toBe('application/json');
    expect(JSON.parse(text)).toEqual({
      id: 'm-3',
      route: 'billing',
      exchange: 'orders',
      routingKey: 'order.paid',
      attempt: 3,
      redelivered: false,
      properties: {
        contentType: 'application/json; charset=utf-8',
        deliveryMode: 2,
        correlationId: 'c-9',
        messageId: 'm-3',
        timestamp: 1700000000,
      },
      headers: { tenant: 'acme' },
      bodyEncoding: 'json',
      body: JSON.parse(body),
    });
  });

  it('sends a UTF-8 body that is not JSON as text', () => {
    const d = delivery('order o-1 paid: 12 €', { contentType: 'text/plain' });
    const parsed = JSON.parse(build(envelope, d).body.toString());
    expect(parsed).toMatchObject({ bodyEncoding: 'text', body: 'order o-1 paid: 12 €' });
  });

  it('sends a body that claims JSON but does not parse as text', () => {
    const d = delivery('{"id": 1', { contentType: 'application/json' });
    expect(JSON.parse(build(envelope, d).body.toString())).toMatchObject({
      bodyEncoding: 'text',
      body: '{"id": 1',
    });
  });

  it('sends bytes that are not UTF-8, or a compressed body, as base64', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const binary = JSON.parse(build(envelope, delivery(bytes)).body.toString());
    expect(binary).toMatchObject({ bodyEncoding: 'base64', body: bytes.toString('base64') });
    const gzipped = delivery('{"id":1}', { contentType: 'application/json', contentEncoding: 'gzip' });
    const request = build(envelope, gzipped);
    expect(JSON.parse(request.body.toString())).toMatchObject({
      bodyEncoding: 'base64',
      body: Buffer.from('{"id":1}').toString('base64'),
      properties: { contentEncoding: 'gzip' },
    });
    expect(headerRecord(request.headers)['content-encoding']).toBeUndefined();
  });

  it('treats +json media types as JSON', () => {
    const d = delivery('[1,2]', { contentType: 'application/vnd.orders+json' });
    expect(JSON.parse(build(envelope, d).body.toString())).toMatchObject({
      bodyEncoding: 'json',
      body: [1, 2],
    });
  });

  it('turns AMQP byte arrays, timestamps and decimals in headers into JSON values', () => {
    const d = delivery('x', {
      headers: {
        raw: Buffer.from('bytes'),
        at: { '!': 'timestamp', value: 1700000000 },
        price: { '!': 'decimal', value: { places: 2, digits: 1250 } },
        nested: { list: [Buffer.from('a'), 1] },
      },
    });
    expect(JSON.parse(build(envelope, d).body.toString()).headers).toEqual({
      raw: Buffer.from('bytes').toString('base64'),
      at: 1700000000,
      price: 12.5,
      nested: { list: [Buffer.from('a').toString('base64'), 1] },
    });
  });

  it('signs the envelope it sends, not the message body', () => {
    const now = `${Math.floor(Date.now() / 1000)}`;
    const d = delivery('{"id":7}', { contentType: 'application/json', messageId: 'm-7' });
    const request = build(spec({ body: 'envelope', sign: { secret } }), d, now);
    const verified = new Webhook(secret).verify(request.body.toString(), headerRecord(request.headers));
    expect(verified).toMatchObject({ id: 'm-7', body: { id: 7 } });
  });
});

describe('body: cloudevents', () => {
  const cloudevents = spec({ body: 'cloudevents' });
  const attributes = {
    cloudEvents_specversion: '1.0',
    cloudEvents_type: 'com.example.order.created',
    cloudEvents_source: '/orders',
    cloudEvents_id: 'evt-1',
  };

  it('maps cloudEvents_* and cloudEvents:* AMQP headers to ce-* headers and sends the body as it is', () => {
    const d = delivery('{"id":1}', {
      contentType: 'application/json',
      messageId: 'm-1',
      headers: { ...attributes, 'cloudEvents:subject': 'o-1', tenant: 'acme' },
    });
    const request = build(cloudevents, d);
    expect(request.body).toBe(d.content);
    const headers = headerRecord(request.headers);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-type': 'com.example.order.created',
      'ce-source': '/orders',
      'ce-id': 'evt-1',
      'ce-subject': 'o-1',
      'webhook-id': 'm-1',
    });
    expect(headers.tenant).toBeUndefined();
  });

  it('defaults ce-id to the webhook-id and ce-specversion to 1.0', () => {
    const d = delivery('x', {
      messageId: 'm-2',
      headers: { cloudEvents_type: 'com.example.t', cloudEvents_source: '/s' },
    });
    expect(headerRecord(build(cloudevents, d).headers)).toMatchObject({
      'ce-id': 'm-2',
      'ce-specversion': '1.0',
    });
  });

  it('refuses a message without type or source, naming what is missing', () => {
    expect(refusal(cloudevents, delivery('x', { headers: { cloudEvents_source: '/s' } }))).toMatch(
      /^cloudevents: no type attribute .*cloudEvents_type/,
    );
    expect(refusal(cloudevents, delivery('x'))).toMatch(/no source and type attribute/);
    expect(refusal(cloudevents, delivery('x', { headers: { ...attributes, cloudEvents_type: '' } }))).toMatch(
      /no type attribute/,
    );
  });

  it("takes a route's ce-* headers as defaults, the message's attributes first", () => {
    const withDefaults = spec({
      body: 'cloudevents',
      headers: { 'ce-source': '/billing', 'CE-Type': 'com.example.default', 'x-tenant': 'acme' },
    });
    const bare = headerRecord(build(withDefaults, delivery('x', { messageId: 'm-3' })).headers);
    expect(bare).toMatchObject({
      'ce-source': '/billing',
      'ce-type': 'com.example.default',
      'x-tenant': 'acme',
    });
    const own = headerRecord(build(withDefaults, delivery('x', { headers: attributes })).headers);
    expect(own).toMatchObject({ 'ce-source': '/orders', 'ce-type': 'com.example.order.created' });
  });

  it('writes typed attributes in their canonical string form, percent-encoded where HTTP needs it', () => {
    const d = delivery('x', {
      headers: {
        ...attributes,
        cloudEvents_time: { '!': 'timestamp', value: 1522900584 },
        cloudEvents_sequence: 42,
        cloudEvents_sampled: true,
        cloudEvents_blob: Buffer.from('hi'),
        cloudEvents_subject: 'Euro € "quoted" 100%',
      },
    });
    expect(headerRecord(build(cloudevents, d).headers)).toMatchObject({
      'ce-time': '2018-04-05T03:56:24Z',
      'ce-sequence': '42',
      'ce-sampled': 'true',
      'ce-blob': 'aGk=',
      'ce-subject': 'Euro%20%E2%82%AC%20%22quoted%22%20100%25',
    });
    expect(percentEncode('Euro € 😀')).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80');
  });

  it('takes datacontenttype as the Content-Type when the message has none, never as a ce- header', () => {
    const d = delivery('<a/>', {
      headers: { ...attributes, cloudEvents_datacontenttype: 'application/xml' },
    });
    const headers = headerRecord(build(cloudevents, d).headers);
    expect(headers['content-type']).toBe('application/xml');
    expect(headers['ce-datacontenttype']).toBeUndefined();
  });

  it("takes the route's ce-datacontenttype default as the Content-Type as written, not percent-encoded", () => {
    const s = spec({
      body: 'cloudevents',
      headers: { 'ce-datacontenttype': 'application/json; charset=utf-8' },
    });
    const d = delivery('{}', { contentType: undefined, headers: attributes });
    expect(headerRecord(build(s, d).headers)['content-type']).toBe('application/json; charset=utf-8');
  });

  it('refuses an attribute name CloudEvents does not allow', () => {
    const d = delivery('x', { headers: { ...attributes, 'cloudEvents_my-ext': 'v' } });
    expect(refusal(cloudevents, d)).toMatch(/cloudEvents_my-ext does not name a valid attribute/);
  });
});
