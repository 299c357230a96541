import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listRouteFiles, loadRouteFiles } from '../../src/config/documents.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { lines, useTempDirs } from './route-dir.js';

const exchange = (name: string) => lines('exchanges:', `  ${name}: { type: topic }`);
const route = (name: string, queue: string) =>
  lines(
    'routes:',
    `  ${name}:`,
    `    from: { queue: ${queue} }`,
    `    to: { republish: { exchange: archive } }`,
  );

describe('loading route files', () => {
  const tmp = useTempDirs();

  it('loads *.yaml and *.yml files sorted by name, whatever order they were written in', async () => {
    const dir = await tmp.routes({
      'b.yml': route('from-b', 'qb'),
      '2-d.yaml': route('from-2d', 'q2d'),
      'a.yaml': route('from-a', 'qa'),
      '10-c.yaml': route('from-10c', 'q10c'),
    });

    expect((await listRouteFiles(dir)).map((f) => basename(f))).toEqual([
      '10-c.yaml',
      '2-d.yaml',
      'a.yaml',
      'b.yml',
    ]);
    const result = await loadConfig(dir, {});
    expect(result.ok && result.config.routes.map((r) => r.name)).toEqual([
      'from-10c',
      'from-2d',
      'from-a',
      'from-b',
    ]);
  });

  it('ignores hidden files, other extensions and sub-directories', async () => {
    const dir = await tmp.routes({
      'kept.yaml': exchange('kept'),
      '.hidden.yaml': exchange('hidden'),
      'notes.txt': exchange('txt'),
      'README.md': exchange('md'),
      'kept.yaml.bak': exchange('bak'),
      'kept.yaml~': exchange('tilde'),
      'nested/inner.yaml': exchange('nested'),
    });
    await mkdir(join(dir, 'dir.yaml'));

    expect((await listRouteFiles(dir)).map((f) => basename(f))).toEqual(['kept.yaml']);
    const result = await loadConfig(dir, {});
    expect(result.ok && result.config.exchanges.map((x) => x.name)).toEqual(['kept']);
  });

  it('loads a ConfigMap mount through its top-level symlinks and skips the `..` internals', async () => {
    // The layout the kubelet writes: files live in a timestamped dir, `..data` points at it, and
    // each key is a top-level symlink through `..data` (swapped atomically on update).
    const dir = await tmp.make();
    await mkdir(join(dir, '..2026_11_29_18_00_00.123'));
    await writeFile(join(dir, '..2026_11_29_18_00_00.123', 'orders.yaml'), route('orders', 'orders.q'));
    await writeFile(join(dir, '..2026_11_29_18_00_00.123', 'invoices.yml'), route('invoices', 'invoices.q'));
    await symlink('..2026_11_29_18_00_00.123', join(dir, '..data'));
    await symlink('..data/orders.yaml', join(dir, 'orders.yaml'));
    await symlink('..data/invoices.yml', join(dir, 'invoices.yml'));

    expect((await listRouteFiles(dir)).map((f) => basename(f))).toEqual(['invoices.yml', 'orders.yaml']);
    const result = await loadConfig(dir, {});
    // Loading `..data/*` as well would define each route twice and fail.
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    expect(result.ok && result.config.routes.map((r) => [r.name, r.origin])).toEqual([
      ['invoices', { file: join(dir, 'invoices.yml'), line: 2, col: 3 }],
      ['orders', { file: join(dir, 'orders.yaml'), line: 2, col: 3 }],
    ]);
  });

  it('loads every document of a multi-document file, with lines counted in the whole file', async () => {
    const dir = await tmp.routes({
      'multi.yaml': lines(
        'exchanges:',
        '  orders: { type: topic }',
        '---',
        'queues:',
        '  audit.all: { bind: [{ exchange: orders, key: "#" }] }',
        '---',
        'routes:',
        '  billing:',
        '    from: { queue: billing.q }',
        '    to: { webhook: { url: "http://billing.internal/hooks" } }',
      ),
    });

    const loaded = await loadRouteFiles(dir);
    expect(loaded.docs).toHaveLength(3);
    const result = await loadConfig(dir, {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.exchanges.map((x) => x.name)).toEqual(['orders']);
    expect(result.config.queues.map((q) => q.name)).toEqual(['audit.all']);
    expect(result.config.routes[0]?.origin).toEqual({ file: join(dir, 'multi.yaml'), line: 8, col: 3 });
  });

  it('treats empty and comment-only files as files with nothing in them', async () => {
    const dir = await tmp.routes({
      'empty.yaml': '',
      'comments.yaml': lines('# routes for the billing team go here', '# (none yet)'),
      'blank.yml': '\n\n',
    });

    const loaded = await loadRouteFiles(dir);
    expect(loaded.docs).toEqual([]);
    expect(loaded.issues).toEqual([]);
    const result = await loadConfig(dir, {});
    expect(result.ok && result.config.routes).toEqual([]);
  });

  it('treats an empty document, such as one after a trailing `---`, as nothing rather than an error', async () => {
    const dir = await tmp.routes({
      'trailing.yaml': lines('exchanges:', '  orders: { type: topic }', '---'),
      'separators.yaml': lines('---', '# nothing here yet', '---'),
    });

    const result = await loadConfig(dir, {});
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    expect(result.ok && result.config.exchanges.map((x) => x.name)).toEqual(['orders']);
  });

  it('reports a missing routes directory as an issue instead of throwing', async () => {
    const dir = join(await tmp.make(), 'does-not-exist');

    const result = await loadConfig(dir, {});
    expect(result.ok ? [] : result.issues).toEqual([
      {
        file: dir,
        line: 1,
        col: 1,
        pointer: '',
        message: 'routes directory not found (set it with --routes or WARREN_ROUTES)',
      },
    ]);
  });

  it('gives the same version for the same files and a new one when a file changes', async () => {
    const dir = await tmp.routes({ 'a.yaml': exchange('orders') });

    const first = await loadRouteFiles(dir);
    const again = await loadRouteFiles(dir);
    await writeFile(join(dir, 'a.yaml'), exchange('invoices'));
    const changed = await loadRouteFiles(dir);

    expect(first.version).toMatch(/^[0-9a-f]{12}$/);
    expect(again.version).toBe(first.version);
    expect(changed.version).not.toBe(first.version);
  });
});
