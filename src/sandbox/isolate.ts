import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ivm from 'isolated-vm';
import { errorRun, toPluginRun, truncate } from './result.js';
import { runnerSource } from './runner.js';
import type { PluginContextData, PluginMessage, PluginRun, SandboxOptions } from './types.js';

export type { PluginContextData, PluginMessage, PluginOutput, PluginRun, SandboxOptions } from './types.js';

/** A module's top-level code runs once per (re)build, so it gets more than a message's budget. */
const LOAD_TIMEOUT_MS = 1_000;
/**
 * After our deadline, how long to wait for isolated-vm's own timeout to stop a busy isolate before
 * disposing it. Without work in flight a promise that has not settled never will (the isolate has
 * no timers or I/O), so disposing is safe; it also reclaims an isolate wedged in a way we missed.
 */
const SETTLE_GRACE_MS = 100;
const TIMED_OUT = 'Script execution timed out.';
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

type Run = (msg: PluginMessage, ctx: PluginContextData) => unknown;
type RunMany = (msgs: PluginMessage[], ctxs: PluginContextData[]) => unknown;

/**
 * Most runs that arrive together (one socket read brings many deliveries) go into the isolate in one
 * call: entering the isolate and arming its timer cost more than a small plugin's work, and a batch
 * pays them once. The limit halves when a batch runs out of time and doubles back after full ones.
 */
const MAX_BATCH = 32;

interface Built {
  isolate: ivm.Isolate;
  /** Called synchronously: most plugins are synchronous, and applySync costs a fraction of an
   * asynchronous apply (no thread hop). It answers `{ pending: true }` for a promise. */
  run: ivm.Reference<Run>;
  /** `run` for several messages, one envelope each; stops after the first promise. */
  runMany: ivm.Reference<RunMany>;
  /** The envelopes a batch cut short by its deadline had finished. */
  collect: ivm.Reference<() => unknown>;
  /** Settles the promise a `run` left pending under the id it answered with. */
  wait: ivm.Reference<(id: number) => unknown>;
}

interface Waiting {
  msg: PluginMessage;
  ctx: PluginContextData;
  resolve: (run: PluginRun | Promise<PluginRun>) => void;
}

/**
 * One isolate per plugin (DESIGN §5): the module is compiled and evaluated once and its default
 * export reused for every run, until a memory breach or a stuck run makes us dispose the isolate;
 * the next run then rebuilds it from the same source. Runs are queued one at a time: the isolate is
 * single-threaded and has no I/O, so running two together would gain nothing, and a run that has
 * to dispose the isolate cannot take others down with it.
 *
 * Runs asked for in the same turn of the event loop are batched (see MAX_BATCH) until the plugin
 * first returns a promise; from then on each run has the isolate to itself. A batch shares one
 * deadline of `timeoutMs`; when it runs out, or the isolate breaks, the messages the batch had
 * finished keep their results and every other one runs again alone, with its own full time and
 * memory, so a fault is always charged to the message that caused it.
 */
export class PluginSandbox {
  readonly file: string;
  readonly #source: string;
  readonly #options: SandboxOptions;
  #built: Built | undefined;
  #idle: Promise<void> = Promise.resolve();
  /** Work waiting for, or holding, the isolate (an async plugin's promise being settled). */
  #queued = 0;
  #rebuilding: Promise<Built> | undefined;
  #disposed = false;
  /** Runs asked for in this turn, run together at the next setImmediate. */
  #gathered: Waiting[] = [];
  #batchLimit = MAX_BATCH;
  /** The plugin has returned a promise: no more batches. */
  #async = false;

  private constructor(file: string, source: string, options: SandboxOptions, built: Built) {
    this.file = file;
    this.#source = source;
    this.#options = options;
    this.#built = built;
  }

  /** Compiles the ES module once; throws an Error naming the file and the reason if it cannot be used. */
  static async load(file: string, source: string, options: SandboxOptions): Promise<PluginSandbox> {
    return new PluginSandbox(file, source, options, await build(file, source, options));
  }

  /**
   * What `load` would say, without keeping the isolate: compiles the module, checks it imports
   * nothing, evaluates its top level (under the load deadline) and checks its default export. No
   * message is run. Throws the same Error as `load`.
   */
  static async check(file: string, source: string, options: SandboxOptions): Promise<void> {
    (await build(file, source, options)).isolate.dispose();
  }

  /** Runs the default export on copies of msg and ctx. Never throws for plugin faults. */
  run(msg: PluginMessage, ctx: PluginContextData): Promise<PluginRun> {
    if (this.#async) return this.#alone(msg, ctx);
    return new Promise((resolve) => {
      if (this.#gathered.push({ msg, ctx, resolve }) === 1) setImmediate(this.#flush);
    });
  }

  dispose(): void {
    this.#disposed = true;
    this.#discard();
  }

  #isReady(): boolean {
    return this.#built !== undefined && !this.#built.isolate.isDisposed;
  }

  /** One run with the isolate to itself, now if nothing is queued, else in turn. */
  #alone(msg: PluginMessage, ctx: PluginContextData): Promise<PluginRun> {
    // The synchronous call cannot overlap another one, and an async plugin's wait holds the queue
    // so runs stay one at a time. A rebuild is asynchronous, so a run that needs one waits its turn.
    if (this.#queued === 0 && this.#isReady()) return this.#runNow(msg, ctx);
    return this.#enqueue(() => this.#runNow(msg, ctx));
  }

  readonly #flush = (): void => {
    const gathered = this.#gathered;
    this.#gathered = [];
    for (let i = 0; i < gathered.length; ) {
      if (this.#async) {
        for (const item of gathered.slice(i)) item.resolve(this.#alone(item.msg, item.ctx));
        return;
      }
      const chunk = gathered.slice(i, i + this.#batchLimit);
      i += chunk.length;
      if (this.#queued === 0 && this.#isReady()) void this.#runBatch(chunk);
      else void this.#enqueue(() => this.#runBatch(chunk));
    }
  };

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    this.#queued++;
    const run = this.#idle.then(work);
    this.#idle = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => {
      this.#queued--;
    });
  }

  async #runBatch(items: Waiting[]): Promise<void> {
    if (items.length === 1 || this.#async || this.#disposed) {
      // One after another, each awaited: this work holds the queue until the last has settled. Run
      // together, a rebuild or an async plugin's wait would let the next call into the isolate
      // before the previous one's promise was collected (the runner keeps one pending promise).
      for (const item of items) {
        const run = this.#runNow(item.msg, item.ctx);
        item.resolve(run);
        await run;
      }
      return;
    }
    let built: Built;
    try {
      built = this.#isReady() ? (this.#built as Built) : await this.#ready();
    } catch (err) {
      for (const item of items) item.resolve(errorRun(`rebuilding the isolate failed: ${reasonOf(err)}`));
      return;
    }
    let envelopes: unknown;
    try {
      envelopes = built.runMany.applySync(
        undefined,
        [items.map((item) => item.msg), items.map((item) => item.ctx)],
        { arguments: { copy: true }, result: { copy: true }, timeout: this.#options.timeoutMs },
      );
    } catch (err) {
      if (built.isolate.isDisposed && this.#built === built) this.#built = undefined;
      this.#batchLimit = Math.max(1, this.#batchLimit >> 1);
      const done = isTimeout(err) && !built.isolate.isDisposed ? this.#collect(built) : [];
      this.#settleBatch(items, done, built);
      return;
    }
    const list = Array.isArray(envelopes) ? envelopes : [];
    if (list.length === items.length && items.length === this.#batchLimit) {
      this.#batchLimit = Math.min(MAX_BATCH, this.#batchLimit * 2);
    }
    this.#settleBatch(items, list, built);
  }

  /** Gives the first `envelopes.length` items their results and runs the rest again, alone. */
  #settleBatch(items: Waiting[], envelopes: unknown[], built: Built): void {
    const done = Math.min(envelopes.length, items.length);
    for (let i = 0; i < done; i++) items[i]!.resolve(this.#finish(envelopes[i], built));
    // Queued behind anything #finish left pending, in their original order.
    for (const item of items.slice(done)) {
      item.resolve(this.#enqueue(() => this.#runNow(item.msg, item.ctx)));
    }
  }

  #collect(built: Built): unknown[] {
    try {
      const done = built.collect.applySync(undefined, [], {
        result: { copy: true },
        timeout: this.#options.timeoutMs,
      });
      return Array.isArray(done) ? done : [];
    } catch {
      return [];
    }
  }

  async #runNow(msg: PluginMessage, ctx: PluginContextData): Promise<PluginRun> {
    if (this.#disposed) return errorRun(`plugin ${this.file} is unloaded`);
    let built: Built;
    try {
      built = this.#isReady() ? (this.#built as Built) : await this.#ready();
    } catch (err) {
      return errorRun(`rebuilding the isolate failed: ${reasonOf(err)}`);
    }
    let envelope: unknown;
    try {
      envelope = built.run.applySync(undefined, [msg, ctx], {
        arguments: { copy: true },
        result: { copy: true },
        timeout: this.#options.timeoutMs,
      });
    } catch (err) {
      return this.#toFault(err, built);
    }
    return this.#finish(envelope, built);
  }

  /** A run's envelope as a result; a promise is settled off the main thread, holding the queue. */
  #finish(envelope: unknown, built: Built): PluginRun | Promise<PluginRun> {
    const promised = envelope as { pending?: boolean; id?: number } | null;
    if (promised?.pending !== true) return toPluginRun(envelope);
    this.#async = true;
    // Settled one at a time, with the deadline enforced here too (isolated-vm's timeout covers
    // synchronous execution only).
    this.#queued++;
    const settled = this.#awaitPending(built, promised.id ?? 0).finally(() => {
      this.#queued--;
    });
    // Runs queued before this one keep their place: the next waits for them and for this wait.
    this.#idle = Promise.all([this.#idle, settled]).then(
      () => undefined,
      () => undefined,
    );
    return settled;
  }

  async #awaitPending(built: Built, id: number): Promise<PluginRun> {
    const { timeoutMs } = this.#options;
    const call = built.wait
      .apply(undefined, [id], { result: { copy: true, promise: true }, timeout: timeoutMs })
      .then(toPluginRun, (err: unknown) => this.#toFault(err, built));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((done) => {
      timer = setTimeout(done, timeoutMs, 'expired');
    });
    const first = await Promise.race([call, expired]);
    clearTimeout(timer);
    if (first !== 'expired') return first;
    await this.#settleOrDispose(call, built);
    return { kind: 'timeout', message: `plugin ran past its ${timeoutMs} ms time limit` };
  }

  /** Rebuilds a disposed isolate once, however many runs arrive while it builds. */
  #ready(): Promise<Built> {
    if (this.#isReady()) return Promise.resolve(this.#built as Built);
    this.#rebuilding ??= build(this.file, this.#source, this.#options).then(
      (built) => {
        this.#rebuilding = undefined;
        if (this.#disposed) built.isolate.dispose();
        else this.#built = built;
        return built;
      },
      (err: unknown) => {
        this.#rebuilding = undefined;
        throw err;
      },
    );
    return this.#rebuilding;
  }

  #toFault(err: unknown, built: Built): PluginRun {
    if (built.isolate.isDisposed) {
      if (this.#disposed) return errorRun(`plugin ${this.file} was unloaded during the run`);
      if (this.#built === built) this.#built = undefined;
      return {
        kind: 'memory',
        message: `plugin exceeded its ${this.#options.memoryLimitMb} MB memory limit; its isolate was disposed`,
      };
    }
    if (isTimeout(err)) {
      return { kind: 'timeout', message: `plugin ran past its ${this.#options.timeoutMs} ms time limit` };
    }
    return errorRun(reasonOf(err));
  }

  async #settleOrDispose(call: Promise<PluginRun>, built: Built): Promise<void> {
    let grace: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      call.then(() => true),
      new Promise<false>((done) => {
        grace = setTimeout(done, SETTLE_GRACE_MS, false);
      }),
    ]);
    clearTimeout(grace);
    if (!settled && this.#built === built) this.#discard();
  }

  #discard(): void {
    if (this.#built !== undefined && !this.#built.isolate.isDisposed) this.#built.isolate.dispose();
    this.#built = undefined;
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === TIMED_OUT;
}

/** The longest timeout Node's timers carry: the async deadline of a run is a setTimeout. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

async function build(file: string, source: string, options: SandboxOptions): Promise<Built> {
  // isolated-vm reads a timeout of 0 as "no limit": one looping message would then hold the
  // process for good. Validation refuses such values; this makes sure no caller gets past it.
  if (!Number.isInteger(options.timeoutMs) || options.timeoutMs < 1 || options.timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(
      `plugin ${file}: a time limit of ${options.timeoutMs} ms is refused; it must be 1 to ${MAX_TIMEOUT_MS} ms`,
    );
  }
  const isolate = new ivm.Isolate({ memoryLimit: options.memoryLimitMb });
  try {
    return { isolate, ...(await instantiate(isolate, file, source, options)) };
  } catch (err) {
    if (!isolate.isDisposed) isolate.dispose();
    throw new Error(`plugin ${file}: ${reasonOf(err)}`, { cause: err });
  }
}

async function instantiate(
  isolate: ivm.Isolate,
  file: string,
  source: string,
  options: SandboxOptions,
): Promise<Omit<Built, 'isolate'>> {
  const context = await isolate.createContext();
  const hostLog = new ivm.Callback(
    (route: unknown, level: unknown, text: unknown) => {
      const known = typeof level === 'string' && LOG_LEVELS.has(level) ? level : 'info';
      try {
        options.log(String(route), known, String(text));
      } catch {
        // a failing logger must not surface as a plugin fault
      }
    },
    { ignored: true },
  );
  const bind: ivm.Reference<(plugin: unknown) => unknown> = await context.evalClosure(
    runnerSource,
    [hostLog],
    {
      result: { reference: true },
    },
  );

  let module: ivm.Module;
  try {
    module = await isolate.compileModule(source, { filename: pathToFileURL(resolve(file)).href });
  } catch (err) {
    throw new Error(`syntax error: ${reasonOf(err)}`, { cause: err });
  }
  const imports = module.dependencySpecifiers;
  if (imports.length > 0) {
    const names = imports.map((name) => `'${name}'`).join(', ');
    throw new Error(`imports are not allowed (it imports ${names}); a plugin only gets (msg, ctx)`);
  }
  await module.instantiate(context, (specifier) => {
    throw new Error(`cannot import '${specifier}'`);
  });
  try {
    await module.evaluate({ timeout: LOAD_TIMEOUT_MS });
  } catch (err) {
    throw new Error(`its top-level code failed: ${topLevelReason(err, isolate, options)}`, { cause: err });
  }

  let plugin: ivm.Reference<unknown>;
  try {
    plugin = await module.namespace.get('default', { reference: true });
  } catch (err) {
    // a top-level await that never settles leaves the export uninitialised
    throw new Error(`its default export is not initialised: ${reasonOf(err)}`, { cause: err });
  }
  if (plugin.typeof === 'undefined') {
    throw new Error('it has no default export; write `export default function (msg, ctx) { ... }`');
  }
  if (plugin.typeof !== 'function') {
    throw new Error(`its default export is a ${plugin.typeof}, not a function`);
  }
  const pair = (await bind.apply(undefined, [plugin.derefInto()], {
    result: { reference: true },
  })) as ivm.Reference<{ run: Run; runMany: RunMany; collect: () => unknown; wait: (id: number) => unknown }>;
  const run = (await pair.get('run', { reference: true })) as ivm.Reference<Run>;
  const runMany = (await pair.get('runMany', { reference: true })) as ivm.Reference<RunMany>;
  const collect = (await pair.get('collect', { reference: true })) as ivm.Reference<() => unknown>;
  const wait = (await pair.get('wait', { reference: true })) as ivm.Reference<(id: number) => unknown>;
  plugin.release();
  pair.release();
  bind.release();
  module.release();
  return { run, runMany, collect, wait };
}

function topLevelReason(err: unknown, isolate: ivm.Isolate, options: SandboxOptions): string {
  if (isolate.isDisposed) return `it exceeded the ${options.memoryLimitMb} MB memory limit`;
  if (isTimeout(err)) return `it ran past ${LOAD_TIMEOUT_MS} ms`;
  return reasonOf(err);
}

function reasonOf(err: unknown): string {
  return truncate(err instanceof Error ? err.message : String(err));
}
