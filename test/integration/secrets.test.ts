import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * Secrets — interpolated values, signing keys, auth headers — never appear in an API response or a
 * log line (issue 5, item 9), even when a receiver echoes them back in an error page.
 */
const env = {
  HOOK_TOKEN: 'tok-5b1e-interpolated-bearer',
  HOOK_PATH_SECRET: 'path-secret-77c0',
};
const literalKey = 'literal-api-key-2f9a41';
const signingKey = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const adminToken = 'admin-token-0d3c9e';
const secrets = [
  ...Object.values(env),
  literalKey,
  signingKey,
  signingKey.slice('whsec_'.length),
  adminToken,
];

function routeFile(exchange: string, queue: string, url: string): string {
  return `
exchanges:
  ${exchange}: { type: topic }
routes:
  billing:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to:
      webhook:
        url: "${url}?key=\${env:HOOK_PATH_SECRET}"
        headers: { authorization: "Bearer \${env:HOOK_TOKEN}", x-api-key: "${literalKey}" }
        sign: { secret: "${signingKey}" }
    retry: { attempts: 2, backoff: [100ms] }
`;
}

function expectNoSecret(where: string, text: string): void {
  for (const secret of secrets) {
    expect(text.includes(secret), `${where} contains ${secret}`).toBe(false);
  }
}

describe('secrets', () => {
  const h = useHarness();

  it('never shows up in the admin API, the metrics or the log, even when a receiver echoes it', async () => {
    const exchange = uniqueName('secret-x');
    const queue = uniqueName('secret-q');
    // The receiver echoes the request headers back in its error pages, as debug pages do.
    h.receiver.responder = (req, n, res) => {
      const status = n === 0 ? 500 : 400;
      res.statusCode = status;
      const { authorization } = req.headers;
      // The bare token, as "token … is expired" pages do, besides the whole header value.
      const bare = authorization?.split(' ')[1];
      res.end(
        `failed; token ${bare} is expired; you sent ${authorization} ${req.headers['x-api-key']} to ${req.path}`,
      );
      return 'handled';
    };
    h.warren = await startWarren(
      { 'routes.yaml': routeFile(exchange, queue, h.receiver.url('/hook')) },
      h.broker,
      {
        env: { ...process.env, ...env },
        adminToken,
      },
    );
    await h.broker.publish(exchange, 'order.created', '{"id":1}', { messageId: 'm-1' });
    // 500 → retry, then 400 → dead letter: both reasons carry the echoed page.
    await waitFor('the dead letter', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    // The receiver did get the real values: redaction is only about what Warren shows.
    expect(h.receiver.requests[0]!.headers.authorization).toBe(`Bearer ${env.HOOK_TOKEN}`);
    expect(h.receiver.requests[0]!.path).toContain(env.HOOK_PATH_SECRET);

    const auth = { authorization: `Bearer ${adminToken}` };
    for (const path of ['/api/routes', '/api/routes/billing', '/metrics', '/readyz', '/api/prune']) {
      const res = await h.warren.admin.request(path, { headers: auth });
      expectNoSecret(path, await res.text());
    }
    const reload = await h.warren.admin.request('/api/reload', { method: 'POST', headers: auth });
    expect(reload.status).toBe(200);
    expectNoSecret('POST /api/reload', await reload.text());

    const [dead] = await h.broker.drain(`${queue}.dlq`);
    // The dead letter's reason still says what happened, without the secret.
    expect(String(dead?.properties.headers?.['x-warren-error'])).toContain('HTTP 400');
    expectNoSecret('the dead letter reason', String(dead?.properties.headers?.['x-warren-error']));

    const logged = h.warren.logs.map((line) => JSON.stringify(line)).join('\n');
    expect(logged).toContain('HTTP 500');
    expectNoSecret('the log', logged);
  });

  it('never shows up in `warren plan` or `warren validate`', async () => {
    const dir = await h.routesDir({ 'routes.yaml': routeFile('x', 'q', 'http://127.0.0.1:9/hook') });
    for (const args of [
      ['plan', dir],
      ['plan', dir, '--format', 'json'],
      ['validate', dir],
    ]) {
      const cli = runCli(args, env);
      const { code } = await cli.exited;
      expect(code, `${args.join(' ')}: ${cli.stderr()}`).toBe(0);
      expectNoSecret(args.join(' '), JSON.stringify(cli.lines) + cli.stderr());
    }
    // An invalid value that came from a secret is not echoed in the error either.
    const bad = await h.routesDir({
      'routes.yaml': `
routes:
  r:
    from: { queue: q }
    to: { webhook: { url: "http://127.0.0.1:9/", sign: { secret: "\${env:BAD_KEY}" } } }
`,
    });
    const cli = runCli(['validate', bad], { BAD_KEY: 'not-a-whsec-value-91aa' });
    const { code } = await cli.exited;
    expect(code).toBe(1);
    const out = JSON.stringify(cli.lines) + cli.stderr();
    expect(out).toContain('sign');
    expect(out).not.toContain('not-a-whsec-value-91aa');
  });
});
