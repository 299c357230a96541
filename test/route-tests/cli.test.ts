import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lines, runWarren } from '../config/route-dir.js';

// The real CLI, built by `npm test`'s pretest: `warren test` on the shipped examples and files.
describe('warren test (CLI)', () => {
  it('passes the shipped example tests in routes.d.test against routes.d and plugins/', async () => {
    const run = await runWarren(['test']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout.trimEnd().split('\n');
    expect(out.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    for (const route of ['crm-orders', 'order-lines', 'analytics-orders', 'billing-orders', 'audit-copy'])
      expect(out.some((line) => line.startsWith(`✓ ${route} › `))).toBe(true);
    expect(out).toContain('✓ order-lines › an order with no lines is dropped');
    expect(out.filter((line) => line.startsWith('✗'))).toEqual([]);
  });

  it('exits 1 with a readable diff for a failing expectation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-test-cli-'));
    try {
      await writeFile(
        join(dir, 'lines.yaml'),
        lines(
          'route: order-lines',
          'cases:',
          '  - name: wrong SKU routing',
          '    message: { body: { order: { id: o-1, lines: [{ sku: KB-01 }, { sku: MS-7 }] } } }',
          '    expect:',
          '      publish:',
          '        - routingKey: order.line.kb-01',
          '        - routingKey: order.line.ms-8',
        ),
      );
      const run = await runWarren(['test', dir, '--routes', 'routes.d', '--plugins', 'plugins']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe(
        [
          '✗ order-lines › wrong SKU routing',
          `    at ${join(dir, 'lines.yaml')}:3`,
          '    publish[1].routingKey: expected "order.line.ms-8", got "order.line.ms-7"',
          '    (- expected, + actual)',
          '      publish:',
          '        - routingKey: order.line.kb-01',
          '    -   - routingKey: order.line.ms-8',
          '    +   - routingKey: order.line.ms-7',
          '0 passed, 1 failed',
          '',
        ].join('\n'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with file:line:col for a malformed test file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-test-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(
        file,
        lines('route: audit-copy', 'cases:', '  - name: x', '    expect: { publish: {} }'),
      );
      const run = await runWarren(['test', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${file}:4:24 \`publish\` must be a list (at /cases/0/expect/publish)`);
      expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 0 failed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on a usage error', async () => {
    const run = await runWarren(['test', 'no/such/dir']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no test file or directory no\/such\/dir/);
  });
});
