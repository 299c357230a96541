import { execFileSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { aliasBomb, manyQueues } from '../../bench/loader-files.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import type { ReloadReport } from '../../src/runtime/report.js';
import { lines, useTempDirs } from '../config/route-dir.js';
import { uniqueName } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { type RunningWarren, startWarren, useHarness } from '../helpers/warren.js';

/** A FIFO nobody writes to: reading it the ordinary way blocks for ever. */
function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

const plugin = (file: string) =>
  lines('routes:', '  shaped:', '    from: { queue: shaped.q }', `    to: { plugin: { file: ${file} } }`);
/** Each file its own route and queue: the same name in two files would be an issue of its own. */
const fileRef = (name: string, path: string) =>
  lines(
    'routes:',
    `  ${name}:`,
    `    from: { queue: ${name}.q }`,
    `    to: { webhook: { url: "\${file:${path}}" } }`,
  );

/** Each hostile route file, the `file:line:col` prefix its issue must have, and the message. */
async function hostileFiles(dir: string, scratch: string): Promise<Array<[string, RegExp]>> {
  const big = join(scratch, 'big.secret');
  await writeFile(big, 'x'.repeat(1024 * 1024 + 1));
  await mkdir(join(scratch, 'a-directory'));
  mkfifo(join(scratch, 'a.fifo'));
  const files: Record<string, string> = {
    'alias-undefined.yaml': lines('exchanges:', '  orders: *nowhere'),
    'alias-bomb.yaml': aliasBomb(9),
    'alias-cycle.yaml': lines('exchanges: &x', '  orders: *x'),
    'deep.yaml': `${'['.repeat(200)}${']'.repeat(200)}\n`,
    'file-fifo.yaml': fileRef('fifo', join(scratch, 'a.fifo')),
    'file-device.yaml': fileRef('device', '/dev/zero'),
    'file-directory.yaml': fileRef('directory', join(scratch, 'a-directory')),
    'file-oversized.yaml': fileRef('oversized', big),
    'plugin-directory.yaml': plugin('a-plugin-dir'),
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await symlink(join(scratch, 'a-directory'), join(dir, 'link-to-directory.yaml'));
  await symlink(join(scratch, 'gone.yaml'), join(dir, 'link-to-nowhere.yaml'));
  mkfifo(join(dir, 'fifo.yaml'));
  const at = (file: string, line: number, col: number | string) =>
    `${join(dir, file).replace(/[.\\]/g, '\\$&')}:${line}:${col}`;
  return [
    [
      'alias-undefined',
      new RegExp(`^${at('alias-undefined.yaml', 2, 11)} YAML: alias \\*nowhere has no anchor`),
    ],
    [
      'alias-bomb',
      new RegExp(`^${at('alias-bomb.yaml', 6, '\\d+')} YAML: aliases expand to more than 1,000,000 nodes`),
    ],
    [
      'alias-cycle',
      new RegExp(`^${at('alias-cycle.yaml', 2, 11)} YAML: alias \\*x is inside the node it names`),
    ],
    ['deep', new RegExp(`^${at('deep.yaml', 1, 65)} YAML: nested deeper than 64 levels`)],
    [
      'file-fifo',
      new RegExp(`^${at('file-fifo.yaml', 4, 27)} cannot read .*a\\.fifo: is a named pipe \\(FIFO\\)`),
    ],
    ['file-device', new RegExp(`^${at('file-device.yaml', 4, 27)} cannot read /dev/zero: is a device`)],
    [
      'file-directory',
      new RegExp(`^${at('file-directory.yaml', 4, 27)} cannot read .*a-directory: is a directory`),
    ],
    [
      'file-oversized',
      new RegExp(
        `^${at('file-oversized.yaml', 4, 27)} cannot read .*big\\.secret: is 1,048,577 bytes, over the limit of 1,048,576 bytes`,
      ),
    ],
    [
      'plugin-directory',
      new RegExp(`^${at('plugin-directory.yaml', 4, 27)} plugin \`a-plugin-dir\` is a directory`),
    ],
    ['link-to-directory', new RegExp(`^${at('link-to-directory.yaml', 1, 1)} route file is a directory`)],
    [
      'link-to-nowhere',
      new RegExp(
        `^${at('link-to-nowhere.yaml', 1, 1)} route file not found \\(or a symbolic link to a missing file\\)`,
      ),
    ],
    ['fifo', new RegExp(`^${at('fifo.yaml', 1, 1)} route file is a named pipe \\(FIFO\\)`)],
  ];
}

describe('hostile route files: validate', () => {
  const tmp = useTempDirs();

  it('reports every attack at file:line:col, exits 1, prints no stack trace and does not hang', async () => {
    const dir = await tmp.make('warren-hostile-');
    const scratch = await tmp.make('warren-scratch-');
    const plugins = await tmp.make('warren-plugins-');
    await mkdir(join(plugins, 'a-plugin-dir'));
    const expected = await hostileFiles(dir, scratch);

    const cli = runCli(['validate', dir, '--plugins', plugins]);
    const { code } = await cli.exited;
    const stderr = cli.stderr();
    expect(stderr).not.toMatch(/\n\s+at /);
    const reported = stderr.trim().split('\n');
    for (const [name, pattern] of expected) {
      expect(
        reported.filter((line) => pattern.test(line)),
        `${name} in:\n${stderr}`,
      ).toHaveLength(1);
    }
    expect(reported.at(-1)).toBe(`${expected.length} error(s) in ${dir}`);
    expect(code).toBe(1);
  });

  it('says what is wrong with a missing routes directory and with --routes at a file', async () => {
    const parent = await tmp.make();
    const missing = join(parent, 'routes.d');
    const file = join(parent, 'orders.yaml');
    await writeFile(file, lines('exchanges:', '  orders: { type: topic }'));

    const none = runCli(['validate', '--routes', missing]);
    expect(await none.exited).toMatchObject({ code: 1 });
    expect(none.stderr()).toContain(
      `${missing}:1:1 routes directory not found (set it with --routes or WARREN_ROUTES)`,
    );
    const notDir = runCli(['validate', '--routes', file]);
    expect(await notDir.exited).toMatchObject({ code: 1 });
    expect(notDir.stderr()).toContain(`${file}:1:1 is a file, not a directory`);
    expect(notDir.stderr()).not.toContain('ENOTDIR');
  });

  it('refuses a route file over --max-file-bytes (or WARREN_MAX_FILE_BYTES), at 1:1, and reads it under a larger cap', async () => {
    const dir = await tmp.routes({ 'big.yaml': manyQueues(100) });
    const file = join(dir, 'big.yaml');

    const flag = runCli(['validate', dir, '--max-file-bytes', '2000']);
    expect(await flag.exited).toMatchObject({ code: 1 });
    expect(flag.stderr()).toMatch(
      new RegExp(
        `^${file.replace(/\./g, '\\.')}:1:1 route file is [\\d,]+ bytes, over the limit of 2,000 bytes \\(--max-file-bytes\\)`,
      ),
    );
    const fromEnv = runCli(['validate', dir], { WARREN_MAX_FILE_BYTES: '2000' });
    expect(await fromEnv.exited).toMatchObject({ code: 1 });
    expect(fromEnv.stderr()).toContain('over the limit of 2,000 bytes');
    const ok = runCli(['validate', dir, '--max-file-bytes', '100000']);
    expect(await ok.exited).toMatchObject({ code: 0 });
    const bad = runCli(['validate', dir, '--max-file-bytes', '4MB']);
    expect(await bad.exited).toMatchObject({ code: 2 });
    expect(bad.stderr()).toContain('bad --max-file-bytes: 4MB');
  });
});

describe('hostile route files: loadConfig', () => {
  const tmp = useTempDirs();

  it('accepts an anchor used more often than the YAML library allows by default (100)', async () => {
    const routes = ['exchanges:', '  orders: &topic { type: topic, durable: true }'];
    for (let i = 0; i < 300; i++) routes.push(`  x${i}: *topic`);
    const dir = await tmp.routes({ 'shared.yaml': lines(...routes) });

    const result = await loadConfig(dir, {});
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    expect(result.ok && result.config.exchanges).toHaveLength(301);
  });

  it('finds a duplicate key among 10,000 at its line, and positions the mistake in the last entry', async () => {
    const text = `${manyQueues(10_000)}  bench.loader.q17: { type: classic }\n`;
    const dir = await tmp.routes({
      'dup.yaml': text,
      'last.yaml': manyQueues(10_000, { mistakeInLast: true }),
    });

    const result = await loadConfig(dir, {});
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([
      `${join(dir, 'dup.yaml')}:10002:3 YAML syntax: Map keys must be unique: \`bench.loader.q17\` is also at line 19`,
      `${join(dir, 'last.yaml')}:10001:25 unknown key \`tpye\`; did you mean \`type\`? (at /queues/bench.loader.q9999/tpye)`,
    ]);
  });
});

describe('hostile route files: a running Warren', () => {
  const h = useHarness();
  const made: string[] = [];

  afterEach(async () => {
    await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  const start = async () => {
    const queue = uniqueName('hostile.q');
    h.warren = await startWarren(
      {
        'ok.yaml': lines(
          'routes:',
          '  ok:',
          `    from: { queue: ${queue} }`,
          `    to: { webhook: { url: "${h.receiver.url()}" } }`,
        ),
      },
      h.broker,
    );
    return h.warren;
  };

  const reload = async (w: RunningWarren): Promise<{ status: number; report: ReloadReport }> => {
    const res = await w.admin.request('/api/reload', { method: 'POST' });
    return { status: res.status, report: (await res.json()) as ReloadReport };
  };

  it('answers 422 with the positioned issue for each attack, and keeps the running route', async () => {
    const w = await start();
    const version = w.runtime.describe().version;
    const scratch = join(w.dir, '..', `${uniqueName('warren-scratch')}`);
    await mkdir(scratch);
    made.push(scratch);
    await mkdir(join(w.pluginsDir, 'a-plugin-dir'));
    const expected = await hostileFiles(w.dir, scratch);

    const { status, report } = await reload(w);
    expect(status).toBe(422);
    expect(report.result).toBe('invalid');
    for (const [name, pattern] of expected) {
      expect(
        report.issues!.filter((line) => pattern.test(line)),
        name,
      ).toHaveLength(1);
    }
    expect(w.runtime.describe().version).toBe(version);
    expect(w.runtime.describe().routes.map((r) => [r.name, r.state])).toEqual([['ok', 'consuming']]);
  });

  it('keeps /healthz answering while a 40,000-entry file is validated', async () => {
    const w = await start();
    await writeFile(join(w.dir, 'big.yaml'), manyQueues(40_000, { mistakeInLast: true }));
    // Warm the validation thread (its start-up loads every module) so the figure is the validation.
    await writeFile(join(w.dir, 'warm.yaml'), 'nope: 1\n');
    await rm(join(w.dir, 'big.yaml'));
    expect((await reload(w)).status).toBe(422);
    await rm(join(w.dir, 'warm.yaml'));
    await writeFile(join(w.dir, 'big.yaml'), manyQueues(40_000, { mistakeInLast: true }));

    // Every 20 ms: how long /healthz took, and how late the timer fired (a held event loop shows
    // as either). The issue's target is 100 ms (the bench shows that figure); this bound is
    // 250 ms because this machine is shared by parallel tests and a GC pause may land inside a
    // poll. Validation on the event loop holds it for seconds at this size, far above either.
    let reloading = true;
    const worst = { ms: 0 };
    const poll = (async () => {
      let polls = 0;
      while (reloading || polls < 3) {
        const sent = performance.now();
        const res = await w.admin.request('/healthz');
        expect(res.status).toBe(200);
        worst.ms = Math.max(worst.ms, performance.now() - sent);
        const slept = performance.now();
        await new Promise((r) => setTimeout(r, 20));
        worst.ms = Math.max(worst.ms, performance.now() - slept - 20);
        polls++;
      }
      return polls;
    })();
    const started = performance.now();
    const { status, report } = await reload(w);
    const took = performance.now() - started;
    reloading = false;
    const polls = await poll;
    expect(status).toBe(422);
    expect(report.issues).toEqual([expect.stringMatching(/big\.yaml:40001:26 unknown key `tpye`/)]);
    // The poll ran all along: the validation took several polling periods.
    expect(polls).toBeGreaterThan(took / 100);
    expect(worst.ms).toBeLessThan(250);
    // A loaded 2-core machine parses a 40,000-entry file slowly: the time limit is for that.
  }, 240_000);
});
