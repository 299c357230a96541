import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, requireAdmin } from '../../src/admin/auth.js';

function app(token: string | undefined, boundToLoopback: boolean): Hono {
  const a = new Hono();
  a.post(
    '/do',
    requireAdmin(token, () => boundToLoopback),
    (c) => c.json({ done: true }),
  );
  return a;
}

/** The Node adapter puts the request's socket in `env.incoming`; this stands in for it. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

describe('admin authorisation for mutating endpoints', () => {
  it('without a token, answers when bound to loopback and refuses with 403 otherwise, whoever the peer is', async () => {
    for (const address of ['127.0.0.1', '127.0.0.6', '::1', '10.0.0.7']) {
      expect((await app(undefined, true).request('/do', { method: 'POST' }, from(address))).status).toBe(200);
      // A sidecar at 127.0.0.6 is no proof of a local caller when the server listens on the network.
      const res = await app(undefined, false).request('/do', { method: 'POST' }, from(address));
      expect(res.status, address).toBe(403);
    }
  });

  it('without a token, refuses what another web page makes a browser send: a cross-site POST, a rebound host name', async () => {
    const open = app(undefined, true);
    const post = (url: string, headers: Record<string, string> = {}) =>
      open.request(url, { method: 'POST', headers }, from('127.0.0.1'));
    // The status page itself, and a client that is no browser (curl sends no Origin).
    expect((await post('http://127.0.0.1:9090/do', { origin: 'http://127.0.0.1:9090' })).status).toBe(200);
    expect((await post('http://localhost:9090/do', { origin: 'http://localhost:9090' })).status).toBe(200);
    expect((await post('http://[::1]:9090/do')).status).toBe(200);
    expect((await post('http://127.0.0.1:9090/do')).status).toBe(200);
    // A page elsewhere posting to the loopback port (a form or fetch: a "simple" request is sent).
    const csrf = await post('http://127.0.0.1:9090/do', { origin: 'https://evil.example' });
    expect(csrf.status).toBe(403);
    expect(((await csrf.json()) as { error: string }).error).toContain('another origin');
    expect((await post('http://127.0.0.1:9090/do', { origin: 'null' })).status).toBe(403);
    // DNS rebinding: evil.example resolves to 127.0.0.1, so the page is same-origin with itself.
    expect((await post('http://evil.example:9090/do', { origin: 'http://evil.example:9090' })).status).toBe(
      403,
    );
    expect((await post('http://evil.example:9090/do')).status).toBe(403);
    // A cross-site request that carries no Origin (an <img> or <script> GET): the browser says so.
    expect((await post('http://127.0.0.1:9090/do', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post('http://127.0.0.1:9090/do', { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });

  it('with a token, needs it as a bearer token from any address, loopback included', async () => {
    for (const bound of [true, false]) {
      const secured = app('s3cret-token', bound);
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
    }
  });

  it('trims the configured token as it trims the presented one; a blank token is no token', async () => {
    const secured = app('  s3cret-token\n', false);
    const post = (authorization: string) =>
      secured.request('/do', { method: 'POST', headers: { authorization } });
    expect((await post('Bearer s3cret-token')).status).toBe(200);
    expect((await post('Bearer   s3cret-token  ')).status).toBe(200);
    expect((await post('Bearer  s3cret-token\n')).status).toBe(200);
    // Blank: no token, so the bind decides.
    expect((await app('  ', false).request('/do', { method: 'POST' })).status).toBe(403);
    expect((await app('  ', true).request('/do', { method: 'POST' })).status).toBe(200);
  });

  it('counts only loopback addresses as loopback', () => {
    for (const address of ['127.0.0.1', '127.0.0.6', '::1', '[::1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of ['0.0.0.0', '::', '10.0.0.7', '::ffff:10.1.2.3', '2001:db8::1', 'localhost', '']) {
      expect(isLoopbackAddress(address), address).toBe(false);
    }
  });
});
