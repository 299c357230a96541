import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

const run = promisify(execFile);

describe('prune candidates', () => {
  const h = useHarness();

  it('lists what a reload stopped using, with message counts, and never deletes it', async () => {
    const exchange = uniqueName('prune');
    const kept = uniqueName('prune.kept');
    const dropped = uniqueName('prune.dropped');
    const route = (name: string, queue: string) => `
  ${name}:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: ${name} }] }
    to: { webhook: { url: "${h.receiver.url()}" } }
    retry: { attempts: 2, backoff: [1s] }`;
    const both = `exchanges: { ${exchange}: { type: direct } }\nroutes:${route('kept', kept)}${route('dropped', dropped)}\n`;
    h.warren = await startWarren({ 'r.yaml': both }, h.broker);

    await writeFile(
      join(h.warren.dir, 'r.yaml'),
      `exchanges: { ${exchange}: { type: direct } }\nroutes:${route('kept', kept)}\n`,
    );
    const report = await h.warren.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'dropped', change: 'removed', ok: true }]);
    await h.broker.publish('', dropped, 'left behind');

    const candidates = await h.warren.runtime.pruneCandidates();
    expect(candidates.exchanges).toEqual([]);
    expect(candidates.queues.map((q) => q.name).sort()).toEqual(
      [dropped, `${dropped}.dlq`, `warren.retry.${dropped}.1s`].sort(),
    );
    expect(candidates.queues.find((q) => q.name === dropped)).toMatchObject({ messages: 1, consumers: 0 });
    expect(await h.broker.depth(dropped)).toBe(1);

    const server = serve({ fetch: h.warren.admin.fetch, port: 0, hostname: '127.0.0.1' });
    await waitFor('the admin server', () => server.listening);
    try {
      const adminUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { stdout } = await run('node', [
        '--no-node-snapshot',
        'bin/warren.js',
        'plan',
        '--prune',
        '--admin-url',
        adminUrl,
        h.warren.dir,
      ]);
      expect(stdout).toContain('# prune candidates');
      expect(stdout).toContain(`queue     ${dropped} (1 ready, 0 consumers)`);
      expect(stdout).not.toContain(`queue     ${kept} (`);
    } finally {
      server.close();
    }
  });

  it('says plainly when no running Warren answers', async () => {
    const error = await run('node', [
      '--no-node-snapshot',
      'bin/warren.js',
      'plan',
      '--prune',
      '--admin-url',
      'http://127.0.0.1:9',
      'routes.d',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain('no running Warren at http://127.0.0.1:9');
  });
});
