import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createSigner } from '../../src/targets/webhook-sign.js';

// The Standard Webhooks reference library's own signing vector ("sign function works").
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const otherSecret = `whsec_${Buffer.from('a second key of thirty-two bytes').toString('base64')}`;

describe('Standard Webhooks signing', () => {
  it('matches the specification test vector', () => {
    const sign = createSigner([vector.secret]);
    expect(sign(vector.id, vector.timestamp, Buffer.from(vector.payload))).toBe(vector.signature);
  });

  it('agrees with the reference library for a fresh message', () => {
    const sign = createSigner([otherSecret]);
    const at = new Date();
    const timestamp = `${Math.floor(at.getTime() / 1000)}`;
    const body = Buffer.from('{"order":"o-1","amount":12.5}');
    expect(sign('order-1', timestamp, body)).toBe(
      new Webhook(otherSecret).sign('order-1', at, body.toString()),
    );
  });

  it('signs with every key, space-separated, so either key verifies during a rotation', () => {
    const sign = createSigner([vector.secret, otherSecret]);
    const timestamp = `${Math.floor(Date.now() / 1000)}`;
    const payload = '{"id":"o-2"}';
    const header = sign('order-2', timestamp, Buffer.from(payload));
    const parts = header.split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(createSigner([vector.secret])('order-2', timestamp, Buffer.from(payload)));
    expect(parts[1]).toBe(createSigner([otherSecret])('order-2', timestamp, Buffer.from(payload)));
    const headers = { 'webhook-id': 'order-2', 'webhook-timestamp': timestamp, 'webhook-signature': header };
    for (const secret of [vector.secret, otherSecret]) {
      expect(new Webhook(secret).verify(payload, headers)).toEqual({ id: 'o-2' });
    }
  });

  it('signs the bytes given, so a changed body or id does not verify', () => {
    const sign = createSigner([otherSecret]);
    const timestamp = `${Math.floor(Date.now() / 1000)}`;
    const header = sign('order-3', timestamp, Buffer.from('{"n":1}'));
    const hook = new Webhook(otherSecret);
    const headers = { 'webhook-id': 'order-3', 'webhook-timestamp': timestamp, 'webhook-signature': header };
    expect(() => hook.verify('{"n":2}', headers)).toThrow(/signature/i);
    expect(() => hook.verify('{"n":1}', { ...headers, 'webhook-id': 'order-4' })).toThrow(/signature/i);
    expect(hook.verify('{"n":1}', headers)).toEqual({ n: 1 });
  });
});
