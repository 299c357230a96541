import { type Built, build } from './build.js';
import { errorRun, isTimeout, reasonOf, toPluginRun } from './result.js';
import type { PluginContextData, PluginMessage, PluginRun, SandboxOptions } from './types.js';

/**
 * After our deadline, how long to wait for isolated-vm's own timeout to stop a busy isolate before
 * disposing it. Without work in flight a promise that has not settled never will (the isolate has
 * no timers or I/O), so disposing is safe; it also reclaims an isolate wedged in a way we missed.
 */
const SETTLE_GRACE_MS = 100;

/**
 * Most runs that arrive together (one socket read brings many deliveries) go into the isolate in one
 * call: entering the isolate and arming its timer cost more than a small plugin's work, and a batch
 * pays them once. The limit halves when a batch runs out of time and doubles back after full ones.
 */
const MAX_BATCH = 32;

interface Waiting {
  msg: PluginMessage;
  ctx: PluginContextData;
  resolve: (run: PluginRun | Promise<PluginRun>) => void;
}

/**
 * One isolate per plugin: the module is compiled and evaluated once and its default
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
 *
 * `build.ts` builds the isolate; this class schedules the runs in it (queue, batches, deadlines),
 * turns faults into results and rebuilds an isolate a fault broke.
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
