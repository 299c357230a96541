import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requireAdmin } from '../../src/admin/auth.js';

function app(token?: string): Hono {
  const a = new Hono();
  a.post('/do', requireAdmin(token), (c) => c.json({ done: true }));
  return a;
}

/** The Node adapter puts the request's socket in `env.incoming`; this stands in for it. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

describe('admin authorisation for mutating endpoints', () => {
  it('without a token, answers loopback clients (IPv4, IPv6, mapped) and refuses others with 403', async () => {
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect((await app().request('/do', { method: 'POST' }, from(address))).status).toBe(200);
    }
    for (const address of ['10.0.0.7', '192.168.1.2', '::ffff:10.1.2.3', '2001:db8::1']) {
      expect((await app().request('/do', { method: 'POST' }, from(address))).status).toBe(403);
    }
  });

  it('with a token, needs it as a bearer token from any address, loopback included', async () => {
    const secured = app('s3cret-token');
    const post = (authorization?: string, address = '127.0.0.1') =>
      secured.request(
        '/do',
        { method: 'POST', headers: authorization ? { authorization } : {} },
        from(address),
      );
    expect((await post()).status).toBe(401);
    expect((await post('Bearer wrong')).status).toBe(401);
    expect((await post('Bearer s3cret')).status).toBe(401);
    expect((await post('Basic s3cret-token')).status).toBe(401);
    expect((await post('Bearer s3cret-token')).status).toBe(200);
    expect((await post('bearer s3cret-token', '10.0.0.7')).status).toBe(200);
  });
});
