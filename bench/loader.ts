/**
 * The loader figures (issue 9 §4): for route files of 1,000 / 10,000 / 40,000 entries in one map,
 * how long loading and validating takes, and the worst `/healthz` answer (over real loopback HTTP,
 * polled every 20 ms) while a running Warren reloads that file, validated in its worker thread.
 * Beside it, the same worst answer when the validation runs on the event loop, as it did before:
 * the difference is what the worker thread buys. The target is 100 ms at 40,000 entries.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { createAdminApp } from '../src/admin/app.js';
import { loadConfig } from '../src/config/load.js';
import { Reloader } from '../src/runtime/reloader.js';
import { Runtime } from '../src/runtime/runtime.js';
import { manyQueues } from './loader-files.js';

export interface LoaderFigure {
  entries: number;
  bytes: number;
  /** loadConfig of a valid file, in the bench process (ms). */
  loadMs: number;
  /** Reload of the same file with one mistake in its last entry (the reload is refused). */
  reloadMs: number;
  /** Worst /healthz answer during that reload, validation in the worker thread (ms). */
  healthzWorkerMs: number;
  /** Worst /healthz answer while the same file is validated on the event loop (ms). */
  healthzMainThreadMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls /healthz every 20 ms until `work` settles; the worst answer time, timer lateness included. */
async function worstHealthz(url: string, work: () => Promise<unknown>): Promise<number> {
  let running = true;
  let worst = 0;
  const poll = (async () => {
    while (running) {
      const sent = performance.now();
      const res = await fetch(url);
      await res.arrayBuffer();
      worst = Math.max(worst, performance.now() - sent);
      const slept = performance.now();
      await sleep(20);
      worst = Math.max(worst, performance.now() - slept - 20);
    }
  })();
  await sleep(100);
  await work();
  running = false;
  await poll;
  return worst;
}

export async function measureLoader(
  amqpUrl: string,
  sizes = [1_000, 10_000, 40_000],
): Promise<LoaderFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-loader-'));
  const plugins = await mkdtemp(join(tmpdir(), 'warren-bench-plugins-'));
  const log = pino({ level: 'silent' });
  // Never started: an invalid configuration is reported without touching the broker.
  const runtime = new Runtime({ amqpUrl, log });
  const reloader = new Reloader(runtime, { routesDir: dir, pluginsDir: plugins, log, env: {} });
  const app = createAdminApp(runtime, { reload: () => reloader.reload('bench') });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  const figures: LoaderFigure[] = [];
  try {
    // Start the worker thread (it loads every module once) before anything is timed.
    await writeFile(join(dir, 'warm.yaml'), 'nope: 1\n');
    await reloader.reload('warm-up');
    await rm(join(dir, 'warm.yaml'));
    for (const entries of sizes) {
      const file = join(dir, 'big.yaml');
      const valid = manyQueues(entries);
      await writeFile(file, valid);
      let started = performance.now();
      const loaded = await loadConfig(dir, {}, plugins);
      const loadMs = performance.now() - started;
      if (!loaded.ok)
        throw new Error(`bench file of ${entries} entries is invalid: ${loaded.issues[0]?.message}`);
      await writeFile(file, manyQueues(entries, { mistakeInLast: true }));
      let reloadMs = 0;
      const healthzWorkerMs = await worstHealthz(url, async () => {
        started = performance.now();
        const report = await reloader.reload('bench');
        reloadMs = performance.now() - started;
        if (report?.result !== 'invalid')
          throw new Error(`expected an invalid reload, got ${report?.result}`);
      });
      const healthzMainThreadMs = await worstHealthz(url, () => loadConfig(dir, {}, plugins));
      figures.push({
        entries,
        bytes: Buffer.byteLength(valid),
        loadMs,
        reloadMs,
        healthzWorkerMs,
        healthzMainThreadMs,
      });
    }
  } finally {
    reloader.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
    await rm(plugins, { recursive: true, force: true });
  }
  return figures;
}

export function printLoader(figures: LoaderFigure[]): void {
  console.log(
    '\nloader: one map of N queues; /healthz polled every 20 ms over loopback HTTP (target: < 100 ms)',
  );
  console.log(
    '  entries      bytes   load+validate   reload (worker)   worst /healthz: worker   on the event loop',
  );
  for (const f of figures) {
    console.log(
      `  ${f.entries.toLocaleString('en-US').padStart(7)} ${f.bytes.toLocaleString('en-US').padStart(10)} ` +
        `${`${Math.round(f.loadMs)} ms`.padStart(15)} ${`${Math.round(f.reloadMs)} ms`.padStart(17)} ` +
        `${`${Math.round(f.healthzWorkerMs)} ms`.padStart(24)} ${`${Math.round(f.healthzMainThreadMs)} ms`.padStart(19)}`,
    );
  }
}
