import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { toDelivery } from '../../src/delivery/delivery.js';
import { consumeMessage } from '../../src/route-tests/run.js';
import { type RecordedRequest, recordingWebhook } from '../../src/route-tests/webhook.js';
import { webhookTarget } from '../../src/targets/webhook.js';
import { lines } from '../config/route-dir.js';
import { signingSecret, useProject } from './fixture.js';

describe('warren test: webhook body modes and signatures', () => {
  const project = useProject();

  it('predicts the envelope and the ce-* headers that are sent, and the dead letter of a CloudEvent without type', async () => {
    const run = await project.run({
      'modes.yaml': lines(
        'route: enveloped',
        'cases:',
        '  - name: the message is wrapped in a JSON envelope',
        '    message:',
        '      routingKey: order.created',
        '      messageId: m-1',
        '      headers: { tenant: acme }',
        '      body: { id: 7 }',
        '    expect:',
        '      webhook:',
        '        - headers: { content-type: application/json, webhook-id: m-1 }',
        '          body:',
        '            id: m-1',
        '            route: enveloped',
        '            exchange: shop',
        '            routingKey: order.created',
        '            attempt: 1',
        '            redelivered: false',
        '            properties: { contentType: application/json, deliveryMode: 2, messageId: m-1 }',
        '            headers: { tenant: acme }',
        '            bodyEncoding: json',
        '            body: { id: 7 }',
        '---',
        'route: evented',
        'cases:',
        '  - name: CloudEvents attributes become ce- headers, the route default fills in the source',
        '    message:',
        '      messageId: m-2',
        '      headers: { cloudEvents_type: com.shop.order.created }',
        '      body: { id: 8 }',
        '    expect:',
        '      webhook:',
        '        - headers:',
        '            content-type: application/json',
        '            ce-type: com.shop.order.created',
        '            ce-source: /shop',
        '            ce-id: m-2',
        '            ce-specversion: "1.0"',
        '            cloudEvents_type: null',
        '          body: { id: 8 }',
        '  - name: without a type nothing is sent',
        '    message: { body: { id: 9 } }',
        '    expect: { deadLetter: "cloudevents: no type attribute" }',
      ),
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(
      [
        '✓ enveloped › the message is wrapped in a JSON envelope',
        '✓ evented › CloudEvents attributes become ce- headers, the route default fills in the source',
        '✓ evented › without a type nothing is sent',
        '3 passed, 0 failed',
        '',
      ].join('\n'),
    );
    expect(run.code).toBe(0);
  });

  it('shows the real envelope when a prediction is wrong', async () => {
    const run = await project.run({
      'wrong.yaml': lines(
        'route: enveloped',
        'cases:',
        '  - name: expects the raw body',
        '    message: { messageId: m-3, body: { id: 7 } }',
        '    expect: { webhook: [{ body: { id: 7 } }] }',
      ),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('webhook[0].body.id: expected 7, got "m-3"');
  });

  it('records the signed request the target sends: the signature verifies over the recorded body', async () => {
    const spec = webhookTarget.normalize({
      url: 'http://127.0.0.1:9/hooks/enveloped',
      body: 'envelope',
      sign: { secret: signingSecret },
    });
    const recorded: RecordedRequest[] = [];
    const handler = recordingWebhook(spec, (r) => recorded.push(r));
    const msg = consumeMessage(
      {
        body: { id: 7 },
        headers: {},
        routingKey: 'order.created',
        redelivered: false,
        attempt: 1,
        messageId: 'm-4',
      },
      'shop',
    );
    expect(await handler(toDelivery(msg, 'enveloped'))).toEqual({ kind: 'ack' });
    expect(recorded).toHaveLength(1);
    const { headers, body } = recorded[0]!;
    expect(headers['webhook-signature']).toMatch(/^v1,/);
    expect(new Webhook(signingSecret).verify(body.toString(), headers)).toMatchObject({
      id: 'm-4',
      body: { id: 7 },
    });
  });
});
