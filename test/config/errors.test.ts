// biome-ignore-all lint/suspicious/noTemplateCurlyInString: route files use `${env:…}` references, written literally here.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../src/config/issues.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { lines, runWarren, useTempDirs } from './route-dir.js';

describe('route file errors', () => {
  const tmp = useTempDirs();

  /** Loads one file `r.yaml` and returns its path and the issues (the config must be invalid). */
  async function issuesOf(text: string, env: NodeJS.ProcessEnv = {}) {
    const dir = await tmp.routes({ 'r.yaml': text });
    const result = await loadConfig(dir, env);
    expect(result.ok, 'the file should be invalid').toBe(false);
    return { file: join(dir, 'r.yaml'), issues: result.ok ? [] : result.issues };
  }

  const formatted = (issues: ConfigIssue[]) => issues.map(formatIssue);

  it('reports a YAML syntax error at the line where the structure breaks', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from:',
        '      queue: billing.q',
        '     to: { webhook: { url: "http://billing.internal/" } }',
      ),
    );

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file, line: 5, col: 1, pointer: '' });
    expect(formatIssue(issues[0]!)).toBe(
      `${file}:5:1 YAML syntax: All mapping items must start at the same column`,
    );
  });

  it('reports a key written twice in one map as a YAML error at the second one', async () => {
    const { file, issues } = await issuesOf(
      lines('exchanges:', '  orders: { type: topic }', '  orders: { type: direct }'),
    );

    expect(formatted(issues)).toEqual([
      `${file}:3:3 YAML syntax: Map keys must be unique: \`orders\` is also at line 2`,
    ]);
  });

  it('reports an unknown key with the nearest valid one', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '    retry:',
        '      attempts: 3',
        '      bakoff: [1s, 10s]',
      ),
    );

    expect(issues.map((i) => i.pointer)).toEqual(['/routes/billing/retry/bakoff']);
    expect(formatted(issues)).toEqual([
      `${file}:7:7 unknown key \`bakoff\`; did you mean \`backoff\`? (at /routes/billing/retry/bakoff)`,
    ]);
  });

  it('suggests `retry` for a route key spelt `retyr`', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '    retyr: { attempts: 3 }',
      ),
    );

    expect(formatted(issues)).toEqual([
      `${file}:5:5 unknown key \`retyr\`; did you mean \`retry\`? (at /routes/billing/retyr)`,
    ]);
  });

  it('lists the valid keys when no key is close to the unknown one', async () => {
    const { issues } = await issuesOf(lines('exchanges:', '  orders: { type: topic, colour: blue }'));

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 2, col: 26, pointer: '/exchanges/orders/colour' });
    expect(issues[0]?.message).toBe(
      'unknown key `colour` (expected one of: type, durable, autoDelete, internal, alternateExchange, arguments, bind)',
    );
  });

  it('reports a value of the wrong type at the value', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    prefetch: many',
        '    to: { webhook: { url: "http://billing.internal/" } }',
      ),
    );

    expect(formatted(issues)).toEqual([`${file}:4:15 must be integer (at /routes/billing/prefetch)`]);
  });

  it('reports a value outside an enum with the allowed ones', async () => {
    const { file, issues } = await issuesOf(lines('exchanges:', '  orders:', '    type: fanot'));

    expect(formatted(issues)).toEqual([
      `${file}:3:11 must be one of: direct, fanout, topic, headers (at /exchanges/orders/type)`,
    ]);
  });

  it('names a missing environment variable at the line and column of its scalar', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to:',
        '      webhook:',
        '        url: http://billing.internal/',
        '        headers: { authorization: "Bearer ${env:WARREN_TEST_MISSING_TOKEN}" }',
      ),
    );

    expect(formatted(issues)).toEqual([
      `${file}:7:35 environment variable WARREN_TEST_MISSING_TOKEN is not set ` +
        '(use ${env:WARREN_TEST_MISSING_TOKEN:-default} for a default) (at /routes/billing/to/webhook/headers/authorization)',
    ]);
  });

  it('reports a missing environment variable once, not again as the schema errors its empty value causes', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to:',
        '      webhook:',
        '        url: ${env:WARREN_TEST_MISSING_URL}',
      ),
    );

    expect(formatted(issues)).toEqual([
      `${file}:6:14 environment variable WARREN_TEST_MISSING_URL is not set ` +
        '(use ${env:WARREN_TEST_MISSING_URL:-default} for a default) (at /routes/billing/to/webhook/url)',
    ]);
  });

  it('reports a name defined in two files with both files and lines', async () => {
    const dir = await tmp.routes({
      'a.yaml': lines(
        'exchanges:',
        '  orders: { type: topic }',
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
      ),
      'b.yaml': lines(
        '# the same route, copied by mistake',
        'routes:',
        '  billing:',
        '    from: { queue: billing.other }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
      ),
    });
    const result = await loadConfig(dir, {});
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');

    expect(result.ok ? [] : result.issues).toEqual([
      {
        file: b,
        line: 3,
        col: 3,
        pointer: '/routes/billing',
        message: `route \`billing\` is defined twice: ${a}:4 and ${b}:3`,
      },
    ]);
  });

  it('reports a duration it cannot read, with the forms it accepts', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to:',
        '      webhook:',
        '        url: http://billing.internal/',
        '        timeout: 10 seconds',
      ),
    );

    expect(formatted(issues)).toEqual([
      `${file}:7:18 must be a duration such as 250ms, 10s, 2m, 1h or integer milliseconds (at /routes/billing/to/webhook/timeout)`,
    ]);
  });

  it('points at the one bad entry of a backoff list', async () => {
    const { issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '    retry:',
        '      backoff:',
        '        - 1s',
        '        - soon',
      ),
    );

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 8, col: 11, pointer: '/routes/billing/retry/backoff/1' });
  });

  it('reports a route without `to` as a missing required key', async () => {
    const { file, issues } = await issuesOf(
      lines('routes:', '  billing:', '    from: { queue: billing.q }', '    prefetch: 10'),
    );

    expect(formatted(issues)).toEqual([`${file}:3:5 missing required key \`to\` (at /routes/billing)`]);
  });

  it('requires exactly one target under `to`', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to:',
        '      webhook: { url: "http://billing.internal/" }',
        '      republish: { exchange: archive }',
        '  empty:',
        '    from: { queue: empty.q }',
        '    to: {}',
      ),
    );

    expect(formatted(issues)).toEqual([
      `${file}:5:7 needs exactly one target: webhook, republish, plugin (at /routes/billing/to)`,
      `${file}:9:9 needs exactly one target: webhook, republish, plugin (at /routes/empty/to)`,
    ]);
  });

  it('refuses two routes consuming one queue, naming the route that has it', async () => {
    const { file, issues } = await issuesOf(
      lines(
        'routes:',
        '  billing:',
        '    from: { queue: orders.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '  audit:',
        '    from: { queue: orders.q }',
        '    to: { republish: { exchange: archive } }',
      ),
    );

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file, line: 5, pointer: '/routes/audit' });
    expect(issues[0]?.message).toBe(
      `queue \`orders.q\` is already consumed by route \`billing\` (${file}:2); one route per queue`,
    );
  });

  it('reports every error of every file, sorted by file and line', async () => {
    const dir = await tmp.routes({
      'b.yaml': lines('exchanges:', '  x: { type: fanot }', '  y: { typ: topic }'),
      'a.yaml': lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    prefetch: 0',
        '    to: { webhook: { url: "ftp://billing.internal/" } }',
      ),
    });
    const result = await loadConfig(dir, {});
    const issues = result.ok ? [] : result.issues;

    expect(issues.map((i) => [i.file.slice(dir.length + 1), i.line])).toEqual([
      ['a.yaml', 4],
      ['a.yaml', 5],
      ['b.yaml', 2],
      ['b.yaml', 3],
      ['b.yaml', 3],
    ]);
    expect(issues.map((i) => i.pointer)).toEqual([
      '/routes/billing/prefetch',
      '/routes/billing/to/webhook/url',
      '/exchanges/x/type',
      '/exchanges/y',
      '/exchanges/y/typ',
    ]);
  });
});

describe('warren validate', () => {
  const tmp = useTempDirs();

  async function invalidDir() {
    return tmp.routes({
      'a.yaml': lines(
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '    retry: { bakoff: [1s] }',
      ),
      'b.yaml': lines('exchanges:', '  orders: { type: topic, durable: "yes" }'),
    });
  }

  it('exits 1 and prints one file:line:col line per error', async () => {
    const dir = await invalidDir();

    const { code, stdout, stderr } = await runWarren(['validate', dir]);

    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toEqual([
      `${join(dir, 'a.yaml')}:5:14 unknown key \`bakoff\`; did you mean \`backoff\`? (at /routes/billing/retry/bakoff)`,
      `${join(dir, 'b.yaml')}:2:35 must be boolean (at /exchanges/orders/durable)`,
      `2 error(s) in ${dir}`,
    ]);
  });

  it('prints the issues as JSON with --format json', async () => {
    const dir = await invalidDir();

    const { code, stdout } = await runWarren(['validate', dir, '--format', 'json']);

    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      valid: false,
      issues: [
        {
          code: 'WARREN_E_CONFIG_INVALID',
          file: join(dir, 'a.yaml'),
          line: 5,
          col: 14,
          pointer: '/routes/billing/retry/bakoff',
          message: 'unknown key `bakoff`; did you mean `backoff`?',
        },
        {
          code: 'WARREN_E_CONFIG_INVALID',
          file: join(dir, 'b.yaml'),
          line: 2,
          col: 35,
          pointer: '/exchanges/orders/durable',
          message: 'must be boolean',
        },
      ],
    });
  });

  it('exits 0 for a valid directory', async () => {
    const dir = await tmp.routes({ 'a.yaml': lines('exchanges:', '  orders: { type: topic }') });

    const text = await runWarren(['validate', dir]);
    const json = await runWarren(['validate', '--format', 'json', dir]);

    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`${dir}: valid (0 routes, 1 exchanges, 0 queues)\n`);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ valid: true, routes: 0, issues: [] });
  });
});
