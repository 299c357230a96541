import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import pino from 'pino';
import { afterEach, beforeEach } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { Reloader } from '../../src/runtime/reloader.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { amqpUrl, TestBroker, waitFor } from './broker.js';
import { Receiver } from './receiver.js';

export interface RunningWarren {
  runtime: Runtime;
  config: Config;
  admin: Hono;
  dir: string;
  pluginsDir: string;
  /** Reloads from `dir` (trigger `test`); with `watch: true` file changes reload by themselves. */
  reloader: Reloader;
  /** Log lines Warren wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  stop(deadlineMs?: number): Promise<{ unfinished: number }>;
}

/** A logger that keeps every line in memory (level debug) so tests can read what Warren said. */
export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { log, lines };
}

/** Writes route files to a temporary routes.d. */
export async function writeRoutes(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-routes-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/**
 * Starts Warren in-process on the given route files; resolves when the first apply finished.
 * Every queue and exchange of the plan is tracked on `broker` for deletion in its close().
 */
export async function startWarren(
  files: Record<string, string>,
  broker: TestBroker,
  options: {
    url?: string;
    waitForRoutes?: boolean;
    env?: NodeJS.ProcessEnv;
    /** Watch `dir` for changes (debounce 50 ms, poll every 500 ms). */
    watch?: boolean;
    drainTimeoutMs?: number;
    adminToken?: string;
    /** Plugin files, written to the plugins directory `pluginsDir`. */
    plugins?: Record<string, string>;
  } = {},
): Promise<RunningWarren> {
  const dir = await writeRoutes(files);
  const pluginsDir = await writeRoutes(options.plugins ?? {});
  const result = await loadConfig(dir, options.env ?? process.env, pluginsDir);
  if (!result.ok) throw new Error(`invalid test routes: ${JSON.stringify(result.issues)}`);
  const { log, lines } = memoryLogger();
  const runtime = new Runtime({
    amqpUrl: options.url ?? amqpUrl,
    log,
    backoff: { initialMs: 100, maxMs: 500 },
    drainTimeoutMs: options.drainTimeoutMs ?? 5_000,
  });
  const reloader = new Reloader(runtime, {
    routesDir: dir,
    pluginsDir,
    log,
    env: options.env ?? process.env,
    watch: { debounceMs: 50, pollMs: 500 },
  });
  await reloader.prime();
  runtime.start(result.config);
  if (options.watch) reloader.watch();
  await runtime.settled();
  const plan = runtime.plan;
  broker.track('exchange', ...plan.exchanges.map((x) => x.name));
  broker.track(
    'queue',
    ...plan.queues.map((q) => q.name),
    ...plan.routes.flatMap((r) => r.queues.map((q) => q.name)),
  );
  if (options.waitForRoutes !== false) {
    await waitFor('routes to settle', () => {
      const states = runtime.describe().routes.map((r) => r.state);
      return states.every((s) => s === 'consuming' || s === 'failed');
    });
  }
  let stopped = false;
  return {
    runtime,
    config: result.config,
    admin: createAdminApp(runtime, {
      reload: () => reloader.reload('api'),
      ...(options.adminToken ? { token: options.adminToken } : {}),
    }),
    dir,
    pluginsDir,
    reloader,
    logs: lines,
    async stop(deadlineMs = 5_000) {
      if (stopped) return { unfinished: 0 };
      stopped = true;
      reloader.close();
      const out = await runtime.stop(deadlineMs);
      await rm(dir, { recursive: true, force: true });
      await rm(pluginsDir, { recursive: true, force: true });
      return out;
    },
  };
}

/** What most integration tests need: a broker connection, a receiver, and the Warren under test. */
export interface Harness {
  broker: TestBroker;
  receiver: Receiver;
  warren: RunningWarren | undefined;
}

/**
 * Registers the usual set-up and tear-down: a fresh broker connection and receiver per test; the
 * Warren a test starts (assigned to `warren`), the receiver and every tracked entity go after it.
 */
export function useHarness(): Harness {
  const h = { warren: undefined } as Harness;
  beforeEach(async () => {
    h.broker = await TestBroker.connect();
    h.receiver = await Receiver.start();
    h.warren = undefined;
  });
  afterEach(async () => {
    await h.warren?.stop();
    await h.receiver.close();
    await h.broker.close();
  });
  return h;
}
