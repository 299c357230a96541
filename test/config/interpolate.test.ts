// biome-ignore-all lint/suspicious/noTemplateCurlyInString: route files use `${env:…}` references, written literally here.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { redact, redacted } from '../../src/config/redact.js';
import type { Config, WebhookTargetSpec } from '../../src/config/types.js';
import { lines, runWarren, useTempDirs } from './route-dir.js';

/** One webhook route whose header values are the given raw (uninterpolated) strings. */
function webhookWithHeaders(headers: Record<string, string>): string {
  return lines(
    'routes:',
    '  billing:',
    '    from: { queue: billing.q }',
    '    to:',
    '      webhook:',
    '        url: http://billing.internal/hooks',
    '        headers:',
    ...Object.entries(headers).map(([name, value]) => `          ${name}: ${JSON.stringify(value)}`),
  );
}

describe('interpolation', () => {
  const tmp = useTempDirs();

  async function load(text: string, env: NodeJS.ProcessEnv): Promise<Config> {
    const dir = await tmp.routes({ 'r.yaml': text });
    const result = await loadConfig(dir, env);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return result.config;
  }

  const headersOf = (config: Config) => (config.routes[0]!.target as WebhookTargetSpec).headers;

  it('replaces ${env:NAME} with the variable, also inside a longer string', async () => {
    const config = await load(
      webhookWithHeaders({ authorization: 'Bearer ${env:TOKEN}', 'x-region': '${env:REGION}' }),
      { TOKEN: 'tok-123', REGION: 'eu' },
    );

    expect(headersOf(config)).toEqual({ authorization: 'Bearer tok-123', 'x-region': 'eu' });
  });

  it('uses the ${env:NAME:-default} default when the variable is unset or empty, and the variable otherwise', async () => {
    const text = webhookWithHeaders({ 'x-a': '${env:A:-fallback}', 'x-b': '${env:B:-fallback}' });

    expect(headersOf(await load(text, { B: '' }))).toEqual({ 'x-a': 'fallback', 'x-b': 'fallback' });
    expect(headersOf(await load(text, { A: 'set', B: 'also' }))).toEqual({ 'x-a': 'set', 'x-b': 'also' });
  });

  it('accepts an empty default', async () => {
    const config = await load(webhookWithHeaders({ 'x-a': 'v${env:A:-}' }), {});

    expect(headersOf(config)).toEqual({ 'x-a': 'v' });
  });

  it('reads ${file:/path} and trims its trailing newline', async () => {
    const secret = join(await tmp.make(), 'whsec');
    await writeFile(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n');

    const config = await load(webhookWithHeaders({ 'x-signing': `\${file:${secret}}` }), {});

    expect(headersOf(config)).toEqual({ 'x-signing': 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
  });

  it('keeps `$${` as a literal `${` and does not resolve what follows it', async () => {
    const config = await load(webhookWithHeaders({ 'x-template': '$${env:TOKEN} and ${env:TOKEN}' }), {
      TOKEN: 'tok-123',
    });

    expect(headersOf(config)).toEqual({ 'x-template': '${env:TOKEN} and tok-123' });
    expect(config.secrets).toEqual(['tok-123']);
  });

  it('reports a file it cannot read at the scalar, naming the path', async () => {
    const missing = join(await tmp.make(), 'no-such-secret');
    const dir = await tmp.routes({ 'r.yaml': webhookWithHeaders({ 'x-signing': `\${file:${missing}}` }) });

    const result = await loadConfig(dir, {});

    expect(result.ok ? [] : result.issues).toEqual([
      {
        file: join(dir, 'r.yaml'),
        line: 8,
        col: 22,
        pointer: '/routes/billing/to/webhook/headers/x-signing',
        message: `cannot read ${missing}: not found (or a symbolic link to a missing file)`,
      },
    ]);
  });

  it('records values from the environment and from files as secrets, but not defaults written in the file', async () => {
    const secretFile = join(await tmp.make(), 'token');
    await writeFile(secretFile, 'from-file\n');

    const config = await load(
      webhookWithHeaders({
        'x-env': '${env:TOKEN}',
        'x-file': `\${file:${secretFile}}`,
        'x-default': '${env:UNSET:-written-in-the-file}',
        'x-twice': '${env:TOKEN}',
      }),
      { TOKEN: 'from-env' },
    );

    expect(config.secrets.sort()).toEqual(['from-env', 'from-file']);
  });
});

describe('redact', () => {
  it('hides every string that contains a secret, wherever it is', () => {
    const value = {
      url: 'https://hooks.example.com/t/tok-93f1c2',
      list: ['plain', 'prefix tok-93f1c2 suffix'],
      nested: { deep: { value: 'tok-93f1c2' } },
      kept: 'nothing to hide',
      count: 3,
    };

    expect(redact(value, ['tok-93f1c2'])).toEqual({
      url: redacted,
      list: ['plain', redacted],
      nested: { deep: { value: redacted } },
      kept: 'nothing to hide',
      count: 3,
    });
  });

  it('hides the values of sensitive header names whatever their case, even without secrets', () => {
    const headers = {
      Authorization: 'Bearer dev',
      cookie: 'a=b',
      'X-Api-Key': 'k',
      'x-auth-token': 't',
      'x-client-secret': 's',
      'x-db-password': 'p',
      'content-type': 'application/json',
    };

    expect(redact({ headers }, [])).toEqual({
      headers: {
        Authorization: redacted,
        cookie: redacted,
        'X-Api-Key': redacted,
        'x-auth-token': redacted,
        'x-client-secret': redacted,
        'x-db-password': redacted,
        'content-type': 'application/json',
      },
    });
  });

  it('masks a URL password and its query values written in the file, keeping origin and path', () => {
    const value = {
      url: 'https://warren:hunter2@hooks.example.com/orders/new?token=abc123&v=2&flag#top',
      plain: 'http://127.0.0.1:8080/hook',
      user: 'https://deploy@git.example.com/repo',
      text: 'see https://a.example/?k=v for more',
    };

    expect(redact(value, [], { urls: true })).toEqual({
      url: `https://warren:${redacted}@hooks.example.com/orders/new?token=${redacted}&v=${redacted}&flag#top`,
      plain: 'http://127.0.0.1:8080/hook',
      user: 'https://deploy@git.example.com/repo',
      text: 'see https://a.example/?k=v for more',
    });
    // A view of messages (the DLQ) shows a header or body that is a URL as the publisher sent it.
    expect(redact(value, [])).toEqual(value);
  });

  it('returns a copy and leaves its input as it was', () => {
    const value = { headers: { authorization: 'Bearer dev' }, url: 'http://x/secret-1' };

    redact(value, ['secret-1']);

    expect(value).toEqual({ headers: { authorization: 'Bearer dev' }, url: 'http://x/secret-1' });
  });
});

describe('warren plan', () => {
  const tmp = useTempDirs();
  const env = {
    HOOK_URL: 'https://hooks.example.com/t/tok-93f1c2',
    SIGNING_SEED: 'seed-5be07d',
    ARCHIVE_KEY: 'rk-a41f0e',
  };

  async function secretRoutes(): Promise<string> {
    return tmp.routes({
      'r.yaml': lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to:',
        '      webhook:',
        '        url: ${env:HOOK_URL}',
        '        headers: { x-seed: "${env:SIGNING_SEED}" }',
        '  audit:',
        '    from: { queue: audit.q }',
        '    to: { republish: { exchange: archive, routingKey: "${env:ARCHIVE_KEY}" } }',
      ),
    });
  }

  for (const format of ['text', 'json'] as const) {
    it(`does not print an interpolated secret (--format ${format})`, async () => {
      const dir = await secretRoutes();

      const { code, stdout, stderr } = await runWarren(['plan', dir, '--format', format], env);

      expect(stderr).toBe('');
      expect(code).toBe(0);
      // The plan did describe both routes, with the secret places redacted.
      expect(stdout).toContain('billing.q');
      expect(stdout).toContain('audit.q');
      expect(stdout).toContain(redacted);
      for (const secret of Object.values(env)) expect(stdout).not.toContain(secret);
      expect(stdout).not.toContain('tok-93f1c2');
    });
  }

  it('prints the plan as JSON that keeps the non-secret values', async () => {
    const dir = await secretRoutes();

    const { stdout } = await runWarren(['plan', dir, '--format', 'json'], env);
    const plan = JSON.parse(stdout) as {
      routes: Array<{ name: string; target: Record<string, unknown> }>;
    };

    expect(plan.routes.map((r) => [r.name, r.target])).toEqual([
      [
        'billing',
        {
          kind: 'webhook',
          url: redacted,
          method: 'POST',
          headers: { 'x-seed': redacted },
          timeoutMs: 10_000,
          body: 'raw',
          retryOn: [],
          deadLetterOn: [],
          circuit: {
            failureRate: 0.5,
            minRequests: 20,
            consecutiveFailures: 10,
            windowMs: 30_000,
            cooldownMs: 30_000,
          },
        },
      ],
      [
        'audit',
        {
          kind: 'republish',
          exchange: 'archive',
          routingKey: redacted,
          headers: {},
          persistent: true,
          mandatory: true,
        },
      ],
    ]);
  });
});
