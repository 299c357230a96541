import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeBodyErrors, SchemaSet } from '../../src/contracts/compile.js';
import { readSchemaDirectory } from '../../src/contracts/files.js';

const json = (value: unknown) => JSON.stringify(value);

describe('SchemaSet.compile', () => {
  it('compiles draft 2020-12 and draft-07 files with $ref between files of the same draft', () => {
    const { set, problems } = SchemaSet.compile([
      {
        name: 'common/address.json',
        text: json({ type: 'object', required: ['city'], properties: { city: { type: 'string' } } }),
      },
      {
        name: 'order.json',
        text: json({
          type: 'object',
          properties: { to: { $ref: 'common/address.json' }, at: { type: 'string', format: 'date-time' } },
        }),
      },
      {
        name: 'legacy.json',
        text: json({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', required: ['id'] }),
      },
    ]);
    expect(problems).toEqual([]);
    expect(set.names).toEqual(['common/address.json', 'legacy.json', 'order.json']);
    const order = set.check('order.json')!;
    expect(order({ to: { city: 'Oslo' }, at: '2026-12-02T05:00:00Z' })).toBeUndefined();
    expect(order({ to: { city: 7 } })).toEqual([{ pointer: '/to/city', message: 'must be string' }]);
    expect(order({ at: 'yesterday' })).toEqual([
      { pointer: '/at', message: 'must match format "date-time"' },
    ]);
    expect(describeBodyErrors(set.check('legacy.json')!({})!)).toBe(
      "schema: (root) must have required property 'id'",
    );
  });

  it('names the file and place of every problem, and keeps the files that compile', () => {
    const { set, problems } = SchemaSet.compile([
      { name: 'syntax.json', text: '{"type": "object",, }' },
      { name: 'wrong.json', text: json({ properties: { a: { type: 'strin' } } }) },
      { name: 'dangling.json', text: json({ $ref: 'missing.json' }) },
      { name: 'remote.json', text: json({ $ref: 'https://example.com/x.json' }) },
      { name: 'old.json', text: json({ $schema: 'http://json-schema.org/draft-04/schema#' }) },
      { name: 'ok.json', text: json({ type: 'string' }) },
    ]);
    expect(set.names).toEqual(['ok.json']);
    const byFile = Object.fromEntries(problems.map((p) => [p.file, p]));
    expect(byFile['syntax.json']!.offset).toBe(18);
    expect(byFile['wrong.json']!.pointer).toBe('/properties/a/type');
    expect(byFile['dangling.json']!.message).toContain('"missing.json" resolves to no schema');
    expect(byFile['remote.json']!.message).toContain('"https://example.com/x.json" resolves to no schema');
    expect(byFile['old.json']!.pointer).toBe('/$schema');
  });

  it('bounds what a hostile body can put in the reason', () => {
    const { set } = SchemaSet.compile([
      { name: 's.json', text: json({ type: 'object', additionalProperties: false }) },
    ]);
    const key = 'k'.repeat(10_000);
    const errors = set.check('s.json')!({ [key]: 1 })!;
    expect(describeBodyErrors(errors).length).toBeLessThan(200);
    const nested = SchemaSet.compile([
      { name: 'n.json', text: json({ properties: { [key]: { type: 'string' } } }) },
    ]);
    expect(nested.set.check('n.json')!({ [key]: 1 })![0]!.pointer.length).toBeLessThanOrEqual(121);
  });
});

describe('readSchemaDirectory', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('reads schema and example files below the directory, skipping dot-entries and other files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
    await mkdir(join(dir, 'common'));
    await mkdir(join(dir, '..data'));
    await writeFile(join(dir, 'order.v1.json'), '{}');
    await writeFile(join(dir, 'order.v1.examples.json'), '[]');
    await writeFile(join(dir, 'common', 'money.json'), '{}');
    await writeFile(join(dir, '..data', 'hidden.json'), '{}');
    await writeFile(join(dir, 'README.md'), '# no');
    await symlink(join(dir, 'order.v1.json'), join(dir, 'alias.json'));
    const read = await readSchemaDirectory(dir);
    expect(read.files.map((f) => f.name)).toEqual(['alias.json', 'common/money.json', 'order.v1.json']);
    expect(read.examples.map((f) => f.name)).toEqual(['order.v1.examples.json']);
    expect(read.problems).toEqual([]);
  });

  it('is empty for a missing directory, and refuses a FIFO named like a schema', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
    expect(await readSchemaDirectory(join(dir, 'none'))).toEqual({ files: [], examples: [], problems: [] });
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(dir, 'pipe.json')]);
    const read = await readSchemaDirectory(dir);
    expect(read.problems).toEqual([{ file: 'pipe.json', message: expect.stringContaining('named pipe') }]);
  });

  it('stops reading past 64 MiB of files in all, each under the 4 MiB cap of one file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
    const text = `{"description": "${'x'.repeat(4 * 1024 * 1024 - 40)}"}`;
    for (let i = 0; i < 17; i++) await writeFile(join(dir, `s${String(i).padStart(2, '0')}.json`), text);
    const read = await readSchemaDirectory(dir);
    expect(read.files).toHaveLength(16);
    expect(read.problems).toEqual([
      { file: 's16.json', message: expect.stringContaining('more than 64 MiB') },
    ]);
  });

  it('stops the whole walk at its caps: one problem, not one per directory past them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
    // 11 directories of 100 schemas: the file cap is reached inside the walk, not in one listing.
    for (let d = 0; d < 11; d++) {
      await mkdir(join(dir, `d${d}`));
      for (let f = 0; f < 100; f++) await writeFile(join(dir, `d${d}`, `s${f}.json`), '{}');
    }
    const read = await readSchemaDirectory(dir);
    expect(read.files).toHaveLength(1000);
    expect(read.problems).toEqual([
      { file: expect.any(String), message: expect.stringContaining('more than 1000 files') },
    ]);
    // 1,100 directories with no schema in them: a tree like / is not walked to its end.
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
    for (let d = 0; d < 1100; d++) await mkdir(join(dir, `d${d}`));
    const empty = await readSchemaDirectory(dir);
    expect(empty.problems).toEqual([
      { file: expect.any(String), message: expect.stringContaining('more than 1000 directories') },
    ]);
  });
});
