import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { lines, useTempDirs } from './route-dir.js';

/** The keys of issue 5 (filters, rate limits, webhook policies): normalised values and errors. */
describe('delivery policy keys', () => {
  const tmp = useTempDirs();

  const route = (...extra: string[]) =>
    lines('routes:', '  billing:', '    from: { queue: billing.q }', ...extra);

  async function load(text: string) {
    const dir = await tmp.routes({ 'r.yaml': text });
    return { file: join(dir, 'r.yaml'), result: await loadConfig(dir, {}) };
  }

  async function errors(text: string): Promise<string[]> {
    const { file, result } = await load(text);
    expect(result.ok, 'the file should be invalid').toBe(false);
    return result.ok ? [] : result.issues.map((i) => formatIssue(i).replace(file, 'r.yaml'));
  }

  it('normalises a filter, a rate limit and every webhook policy, with their defaults', async () => {
    const { result } = await load(
      route(
        '    when:',
        '      routingKey: "order.*.eu"',
        '      headers: { region: eu, channel: [web, 3], tenant: { exists: true } }',
        '    rateLimit: { rate: 50 }',
        '    to:',
        '      webhook:',
        '        url: "http://billing.internal/"',
        '        body: cloudevents',
        '        sign: { secret: [whsec_b2xk, whsec_bmV3] }',
        '        retryOn: [409, 4xx]',
        '        deadLetterOn: [501]',
        '        circuit: { failureRate: 0.25, window: 1m }',
      ),
    );
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const r = result.config.routes[0]!;
    expect(r.when).toEqual({
      routingKey: ['order.*.eu'],
      headers: { region: { oneOf: ['eu'] }, channel: { oneOf: ['web', 3] }, tenant: { exists: true } },
    });
    expect(r.rateLimit).toEqual({ rate: 50, perMs: 1_000, burst: 50 });
    expect(r.target).toMatchObject({
      body: 'cloudevents',
      sign: { secrets: ['whsec_b2xk', 'whsec_bmV3'] },
      deadLetterOn: [501],
      circuit: { failureRate: 0.25, minRequests: 20, windowMs: 60_000, cooldownMs: 30_000 },
    });
    const retryOn = (r.target as { retryOn: number[] }).retryOn;
    expect(retryOn).toHaveLength(100);
    expect([retryOn[0], retryOn.at(-1)]).toEqual([409, 499]);
    // Signing keys written in the file are redacted like interpolated values.
    expect(result.config.secrets).toEqual(expect.arrayContaining(['whsec_b2xk', 'whsec_bmV3']));
  });

  it('defaults: raw body, no signing, empty status lists, the circuit on; `circuit: false` turns it off', async () => {
    const { result } = await load(
      lines(
        'routes:',
        '  a:',
        '    from: { queue: a.q }',
        '    to: { webhook: { url: "http://a.internal/" } }',
        '  b:',
        '    from: { queue: b.q }',
        '    to: { webhook: { url: "http://b.internal/", circuit: false } }',
      ),
    );
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const [a, b] = result.config.routes;
    expect(a!.target).toMatchObject({ body: 'raw', retryOn: [], deadLetterOn: [] });
    expect(a!.target).not.toHaveProperty('sign');
    expect(a!.target).toHaveProperty('circuit', {
      failureRate: 0.5,
      minRequests: 20,
      consecutiveFailures: 10,
      windowMs: 30_000,
      cooldownMs: 30_000,
    });
    expect(b!.target).not.toHaveProperty('circuit');
    expect(a!.when).toBeUndefined();
    expect(a!.rateLimit).toBeUndefined();
  });

  it('refuses a status in both retryOn and deadLetterOn', async () => {
    expect(
      await errors(
        route('    to: { webhook: { url: "http://x.internal/", retryOn: [5xx], deadLetterOn: [501, 404] } }'),
      ),
    ).toEqual([
      'r.yaml:4:79 status 501 is in both retryOn and deadLetterOn (at /routes/billing/to/webhook/deadLetterOn)',
    ]);
  });

  it('refuses a signing key that is not whsec_ and base64, and a 2xx in a status list', async () => {
    const found = await errors(
      route(
        '    to: { webhook: { url: "http://x.internal/", sign: { secret: "hunter2" }, retryOn: [200] } }',
      ),
    );
    expect(found).toEqual([
      'r.yaml:4:65 must be a Standard Webhooks key: `whsec_` followed by base64 (at /routes/billing/to/webhook/sign/secret)',
      'r.yaml:4:88 must be >= 300 (at /routes/billing/to/webhook/retryOn/0)',
    ]);
    expect(
      await errors(route('    to: { webhook: { url: "http://x.internal/", deadLetterOn: [2xx] } }')),
    ).toEqual([
      'r.yaml:4:64 must be a status from 300 to 599, or 3xx, 4xx or 5xx (at /routes/billing/to/webhook/deadLetterOn/0)',
    ]);
  });

  it('refuses a zero rate period and a misspelt filter key, naming the nearest one', async () => {
    expect(
      await errors(
        route('    rateLimit: { rate: 5, per: 0 }', '    to: { webhook: { url: "http://x.internal/" } }'),
      ),
    ).toEqual(['r.yaml:4:32 must be from 1ms to 24h (at /routes/billing/rateLimit/per)']);
    const misspelt = await errors(
      route('    when: { routingkey: "a.b" }', '    to: { webhook: { url: "http://x.internal/" } }'),
    );
    expect(misspelt).toHaveLength(1);
    expect(misspelt[0]).toContain('routingKey');
  });
});
