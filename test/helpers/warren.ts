import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { Reloader } from '../../src/runtime/reloader.js';
import type { ReloadReport } from '../../src/runtime/report.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { type Plan, planTopology } from '../../src/topology/plan.js';
import { amqpUrl, TestBroker, waitFor } from './broker.js';
import { SteadyPublisher } from './load.js';
import { FaultProxy } from './proxy.js';
import { Receiver, type Responder } from './receiver.js';

export interface RunningWarren {
  runtime: Runtime;
  config: Config;
  admin: Hono;
  dir: string;
  pluginsDir: string;
  /** The schemas directory (`--schemas`). */
  schemasDir: string;
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
    /** Schema files (names may hold sub-directories), written to the schemas directory `schemasDir`. */
    schemas?: Record<string, string>;
  } = {},
): Promise<RunningWarren> {
  const dir = await writeRoutes(files);
  const pluginsDir = await writeRoutes(options.plugins ?? {});
  const schemasDir = await mkdtemp(join(tmpdir(), 'warren-schemas-'));
  for (const [name, text] of Object.entries(options.schemas ?? {})) {
    await mkdir(dirname(join(schemasDir, name)), { recursive: true });
    await writeFile(join(schemasDir, name), text);
  }
  const result = await loadConfig(dir, options.env ?? process.env, pluginsDir, { schemasDir });
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
    schemasDir,
    log,
    env: options.env ?? process.env,
    watch: { debounceMs: 50, pollMs: 500 },
  });
  await reloader.prime();
  runtime.start(result.config);
  if (options.watch) reloader.watch();
  await runtime.settled();
  trackTopology(broker, runtime.plan);
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
    schemasDir,
    reloader,
    logs: lines,
    async stop(deadlineMs = 5_000) {
      if (stopped) return { unfinished: 0 };
      stopped = true;
      reloader.close();
      const out = await runtime.stop(deadlineMs);
      await rm(dir, { recursive: true, force: true });
      await rm(pluginsDir, { recursive: true, force: true });
      await rm(schemasDir, { recursive: true, force: true });
      return out;
    },
  };
}

/**
 * Stops Warren for cleanup, but never hangs the hooks: a stop stuck on a broken session is left
 * behind (the test already failed) so the queues are still deleted.
 */
export async function stopWarren(warren: RunningWarren | undefined): Promise<void> {
  if (!warren) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    warren.stop().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 10_000);
    }),
  ]);
  clearTimeout(timer);
}

/** Replaces a route file atomically (the hidden temporary file is ignored by Warren). */
export async function replaceFile(dir: string, name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, name));
}

/** Waits for the reload after `previous` (the report object changes with every reload). */
export function nextReload(warren: RunningWarren, previous: ReloadReport | undefined): Promise<ReloadReport> {
  return waitFor('a reload', () => {
    const last = warren.runtime.lastReload;
    return last !== previous ? last : undefined;
  });
}

/** Every exchange and queue a routes directory declares, tracked on `broker` for deletion; `plugins`:
 * the plugins directory its routes name files of. */
export async function trackPlan(broker: TestBroker, dir: string, plugins?: string): Promise<void> {
  const loaded = await loadConfig(dir, process.env, plugins);
  if (!loaded.ok) throw new Error(`invalid test routes: ${JSON.stringify(loaded.issues)}`);
  trackTopology(broker, planTopology(loaded.config));
}

function trackTopology(broker: TestBroker, plan: Plan): void {
  broker.track('exchange', ...plan.exchanges.map((x) => x.name));
  broker.track(
    'queue',
    ...plan.queues.map((q) => q.name),
    ...plan.routes.flatMap((r) => r.queues.map((q) => q.name)),
  );
}

/**
 * The set-up every integration test shares: a broker connection, a receiver, the Warren under
 * test (assign it to `warren`), and whatever else the test starts through the harness.
 */
export interface Harness {
  broker: TestBroker;
  receiver: Receiver;
  warren: RunningWarren | undefined;
  /** Another receiver, closed after the test. */
  receive(responder?: Responder): Promise<Receiver>;
  /** A fault proxy to the broker, closed after the test (after Warren stopped). */
  proxy(): Promise<FaultProxy>;
  /** A steady publisher on the harness's broker, stopped after the test (before Warren). */
  publisher(...args: SteadyArgs): SteadyPublisher;
  /** Route files in a temporary directory removed after the test (`trackPlan` deletes what they declare). */
  routesDir(files: Record<string, string>): Promise<string>;
  /** A temporary directory removed after the test. */
  tempDir(): Promise<string>;
  /** Runs `cleanup` after the test, before Warren stops; the last registered runs first. */
  defer(cleanup: () => unknown): void;
}

type SteadyArgs =
  ConstructorParameters<typeof SteadyPublisher> extends [TestBroker, ...infer Rest] ? Rest : never;

/**
 * Registers the shared set-up and tear-down. After each test (or, with `'all'`, once after the
 * describe block, for suites of many cases against one Warren), in this order: the deferred
 * clean-ups, Warren (bounded), proxies, receivers, temporary directories, then every tracked
 * queue and exchange with the broker connection.
 */
export function useHarness(scope: 'each' | 'all' = 'each'): Harness {
  let cleanups: Array<() => unknown> = [];
  let proxies: FaultProxy[] = [];
  let receivers: Receiver[] = [];
  let dirs: string[] = [];
  const h: Harness = {
    broker: undefined as unknown as TestBroker,
    receiver: undefined as unknown as Receiver,
    warren: undefined,
    async receive(responder) {
      const receiver = await Receiver.start(responder);
      receivers.push(receiver);
      return receiver;
    },
    async proxy() {
      const proxy = await FaultProxy.start();
      proxies.push(proxy);
      return proxy;
    },
    publisher(...args) {
      const publisher = new SteadyPublisher(h.broker, ...args);
      cleanups.push(() => publisher.stop());
      return publisher;
    },
    async routesDir(files) {
      const dir = await writeRoutes(files);
      dirs.push(dir);
      return dir;
    },
    async tempDir() {
      const dir = await mkdtemp(join(tmpdir(), 'warren-test-'));
      dirs.push(dir);
      return dir;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
  const [before, after] = scope === 'each' ? [beforeEach, afterEach] : [beforeAll, afterAll];
  before(async () => {
    cleanups = [];
    proxies = [];
    receivers = [];
    dirs = [];
    h.warren = undefined;
    h.broker = await TestBroker.connect();
    h.receiver = await h.receive();
  });
  after(async () => {
    // Every step runs even when one fails, so a broken clean-up never leaves queues behind.
    const failures: unknown[] = [];
    const step = async (work: () => unknown) => {
      try {
        await work();
      } catch (err) {
        failures.push(err);
      }
    };
    for (const cleanup of cleanups.reverse()) await step(cleanup);
    await step(() => stopWarren(h.warren));
    h.warren = undefined;
    for (const proxy of proxies) await step(() => proxy.close());
    for (const receiver of receivers) await step(() => receiver.close());
    for (const dir of dirs) await step(() => rm(dir, { recursive: true, force: true }));
    await step(() => h.broker.close());
    if (failures.length > 0) throw failures[0];
  });
  return h;
}
