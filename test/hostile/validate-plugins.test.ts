import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PluginSandbox } from '../../src/sandbox/isolate.js';
import { runCli } from '../helpers/cli.js';

/**
 * `warren validate` loads every plugin a route names as `warren run` would (without running a
 * message), and reports every problem of the files in one run, with its code in JSON.
 */

let root: string;
let routes: string;
let plugins: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'warren-validate-plugins-'));
  routes = join(root, 'routes.d');
  plugins = join(root, 'plugins');
  await mkdir(routes);
  await mkdir(plugins);
  await writeFile(join(plugins, 'ok.js'), 'export default (msg) => msg;\n');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function validate(
  ...extra: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = runCli(['validate', routes, '--plugins', plugins, ...extra]);
  let stdout = '';
  cli.child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const { code } = await cli.exited;
  return { code, stdout, stderr: cli.stderr() };
}

/** A route file whose route `r` uses the plugin `file` as its target (line 4) and `ok.js` as transform. */
async function routeUsing(file: string): Promise<string> {
  const path = join(routes, 'r.yaml');
  await writeFile(
    path,
    ['routes:', '  r:', '    from: { queue: q.plugins }', `    to: { plugin: { file: ${file} } }`, ''].join(
      '\n',
    ),
  );
  return path;
}

describe('warren validate compiles plugins', () => {
  it.each([
    [
      'a syntax error',
      'export default function (msg) { return msg\n',
      /plugin `p\.js` cannot be loaded: syntax error: .*\[file:\/\/.*\/plugins\/p\.js:2:1\]/,
    ],
    [
      'an import',
      'import fs from "node:fs";\nexport default (m) => m;\n',
      /imports are not allowed \(it imports 'node:fs'\)/,
    ],
    ['no default export', 'export const transform = (m) => m;\n', /it has no default export/],
    ['a default export that is not a function', 'export default 42;\n', /its default export is a number/],
    [
      'top-level code that throws',
      'throw new Error("boom");\nexport default (m) => m;\n',
      /top-level code failed: .*boom/,
    ],
  ])('refuses a plugin with %s: exit 1, at the line that names it', async (_what, source, reason) => {
    await writeFile(join(plugins, 'p.js'), source);
    const file = await routeUsing('p.js');

    const { code, stdout, stderr } = await validate();

    expect(code).toBe(1);
    expect(stdout).toBe('');
    const [issue, summary] = stderr.trimEnd().split('\n');
    expect(issue).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:27 `));
    expect(issue).toMatch(reason);
    expect(issue).toContain('(at /routes/r/to/plugin/file)');
    expect(summary).toBe(`1 error(s) in ${routes}`);
  });

  it('says valid for a plugin that loads', async () => {
    await writeFile(
      join(plugins, 'p.js'),
      'const seen = new Set();\nexport default (msg) => (seen.add(msg), msg);\n',
    );
    await routeUsing('p.js');

    const { code, stdout } = await validate();

    expect(code).toBe(0);
    expect(stdout).toBe(`${routes}: valid (1 routes, 0 exchanges, 0 queues)\n`);
  });

  it('reports the error at every route that names a broken plugin, with code WARREN_E_PLUGIN_FAILED', async () => {
    await writeFile(join(plugins, 'p.js'), 'export const x = 1;\n');
    await writeFile(
      join(routes, 'r.yaml'),
      [
        'routes:',
        '  a:',
        '    from: { queue: q.a }',
        '    transform: p.js',
        '    to: { webhook: { url: "http://hooks.internal/" } }',
        '  b:',
        '    from: { queue: q.b }',
        '    to: { plugin: { file: p.js } }',
        '',
      ].join('\n'),
    );

    const { code, stdout } = await validate('--format', 'json');

    expect(code).toBe(1);
    const out = JSON.parse(stdout) as { valid: boolean; issues: Array<Record<string, unknown>> };
    expect(out.valid).toBe(false);
    expect(out.issues.map((i) => [i.code, i.line, i.col, i.pointer])).toEqual([
      ['WARREN_E_PLUGIN_FAILED', 4, 16, '/routes/a/transform'],
      ['WARREN_E_PLUGIN_FAILED', 8, 27, '/routes/b/to/plugin/file'],
    ]);
  });
});

describe('warren validate reports every mistake in one run', () => {
  it('lists schema errors, a name defined twice, two routes on one queue, a status in both lists, a missing and a broken plugin, and a limit, each with its code', async () => {
    await writeFile(join(plugins, 'broken.js'), 'export default (m) => {\n');
    await writeFile(
      join(routes, 'a.yaml'),
      [
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    prefetch: many',
        '    to: { webhook: { url: "http://billing.internal/", retryOn: [500], deadLetterOn: [500] } }',
        '  audit:',
        '    from: { queue: billing.q }',
        '    transform: missing.js',
        '    to: { webhook: { url: "http://", timeout: 0ms } }',
        '  shaper:',
        '    from: { queue: shaper.q }',
        '    to: { plugin: { file: broken.js } }',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(routes, 'b.yaml'),
      [
        'routes:',
        '  billing:',
        '    from: { queue: other.q }',
        '    to: { webhook: { url: "http://billing.internal/" } }',
        '',
      ].join('\n'),
    );

    const text = await validate();
    const json = await validate('--format', 'json');

    expect(text.code).toBe(1);
    expect(json.code).toBe(1);
    const a = join(routes, 'a.yaml');
    const b = join(routes, 'b.yaml');
    const out = JSON.parse(json.stdout) as { valid: boolean; issues: Array<Record<string, unknown>> };
    expect(out.issues.map((i) => [i.code, i.file, i.line, i.pointer])).toEqual([
      ['WARREN_E_CONFIG_INVALID', a, 4, '/routes/billing/prefetch'],
      ['WARREN_E_CONFIG_INVALID', a, 5, '/routes/billing/to/webhook/deadLetterOn'],
      ['WARREN_E_CONFIG_INVALID', a, 6, '/routes/audit'],
      ['WARREN_E_CONFIG_INVALID', a, 8, '/routes/audit/transform'],
      ['WARREN_E_CONFIG_INVALID', a, 9, '/routes/audit/to/webhook/url'],
      ['WARREN_E_CONFIG_INVALID', a, 9, '/routes/audit/to/webhook/timeout'],
      ['WARREN_E_PLUGIN_FAILED', a, 12, '/routes/shaper/to/plugin/file'],
      ['WARREN_E_CONFIG_INVALID', b, 2, '/routes/billing'],
    ]);
    for (const issue of out.issues) {
      expect(Object.keys(issue).sort()).toEqual(['code', 'col', 'file', 'line', 'message', 'pointer']);
      expect(issue.col).toBeGreaterThan(0);
    }
    const messages = out.issues.map((i) => i.message);
    expect(messages).toEqual([
      'must be integer',
      'status 500 is in both retryOn and deadLetterOn',
      expect.stringContaining('queue `billing.q` is already consumed by route `billing`'),
      expect.stringContaining('plugin `missing.js` not found'),
      'names no host: write http://host[:port]/path',
      'must be from 1ms to 15m',
      expect.stringContaining('plugin `broken.js` cannot be loaded: syntax error'),
      expect.stringContaining('route `billing` is defined twice'),
    ]);
    // The text form says the same, one file:line:col line each.
    const lines = text.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(out.issues.length + 1);
    expect(lines.at(-1)).toBe(`${out.issues.length} error(s) in ${routes}`);
  });
});

describe('the plugin sandbox', () => {
  it.each([0, -1, 1.5, Number.NaN, 2 ** 31])(
    'refuses to load a plugin with a time limit of %s ms',
    async (timeoutMs) => {
      await expect(
        PluginSandbox.load('p.js', 'export default (m) => m;', {
          timeoutMs,
          memoryLimitMb: 16,
          log: () => {},
        }),
      ).rejects.toThrow(/a time limit of .* ms is refused; it must be 1 to 2147483647 ms/);
    },
  );

  it('loads one with a time limit of 1 ms', async () => {
    const sandbox = await PluginSandbox.load('p.js', 'export default (m) => m;', {
      timeoutMs: 1,
      memoryLimitMb: 16,
      log: () => {},
    });
    sandbox.dispose();
  });
});
