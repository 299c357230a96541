import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

const run = promisify(execFile);

describe('prune candidates', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let warren: RunningWarren | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
  });

  afterEach(async () => {
    await warren?.stop();
    await receiver.close();
    await broker.close();
  });

  it('lists what a reload stopped using, with message counts, and never deletes it', async () => {
    const exchange = uniqueName('prune');
    const kept = uniqueName('prune.kept');
    const dropped = uniqueName('prune.dropped');
    const route = (name: string, queue: string) => `
  ${name}:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: ${name} }] }
    to: { webhook: { url: "${receiver.url()}" } }
    retry: { attempts: 2, backoff: [1s] }`;
    const both = `exchanges: { ${exchange}: { type: direct } }\nroutes:${route('kept', kept)}${route('dropped', dropped)}\n`;
    warren = await startWarren({ 'r.yaml': both }, broker);

    await writeFile(
      join(warren.dir, 'r.yaml'),
      `exchanges: { ${exchange}: { type: direct } }\nroutes:${route('kept', kept)}\n`,
    );
    const report = await warren.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'dropped', change: 'removed', ok: true }]);
    await broker.publish('', dropped, 'left behind');

    const candidates = await warren.runtime.pruneCandidates();
    expect(candidates.exchanges).toEqual([]);
    expect(candidates.queues.map((q) => q.name).sort()).toEqual(
      [dropped, `${dropped}.dlq`, `warren.retry.${dropped}.1s`].sort(),
    );
    expect(candidates.queues.find((q) => q.name === dropped)).toMatchObject({ messages: 1, consumers: 0 });
    expect(await broker.depth(dropped)).toBe(1);

    const server = serve({ fetch: warren.admin.fetch, port: 0, hostname: '127.0.0.1' });
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
        warren.dir,
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
