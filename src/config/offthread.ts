import { Worker } from 'node:worker_threads';
import type { LoadOptions } from './documents.js';
import type { ValidationResult } from './load.js';
import type { ValidationJob, ValidationReply } from './worker.js';

/** A validation that has not finished by then is given up (the worker is stopped). */
export const offThreadTimeoutMs = 120_000;

/**
 * Running from the TypeScript sources (the test suite), the worker is `worker.ts`: a loader hook
 * strips the types the way the build does, so the worker runs the code under test, not dist/.
 */
function workerSpec(): { url: URL; execArgv?: string[] } {
  // No flags of the parent's: a worker inherits them by default, and some are not for a worker
  // (`node --input-type=module -e …` made every validation fail). Process-wide ones still apply.
  if (!import.meta.url.endsWith('.ts')) return { url: new URL('./worker.js', import.meta.url), execArgv: [] };
  const hooks = new URL('../../test/helpers/ts-hooks.mjs', import.meta.url).href;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(hooks)});`;
  return {
    url: new URL('./worker.ts', import.meta.url),
    // Process-wide flags (--no-node-snapshot) are not worker flags: only the hook.
    execArgv: ['--import', `data:text/javascript,${encodeURIComponent(register)}`],
  };
}

function failed(dir: string, message: string): ValidationResult {
  return {
    ok: false,
    issues: [{ file: dir, line: 1, col: 1, pointer: '', message: `validation failed: ${message}` }],
    version: '',
  };
}

/**
 * `loadConfig` in a worker thread: the same code and the same result, but the event loop stays
 * free while a large configuration is read, parsed and validated, so `/healthz` and deliveries
 * go on during a reload. The thread is started on first use and kept (its start-up, loading the
 * modules, costs more than most validations); a thread that crashes, runs out of memory or takes
 * longer than `offThreadTimeoutMs` is stopped, its validations become an invalid configuration at
 * `dir:1:1` (never a throw), and the next validation starts a new one.
 */
export class ConfigWorker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { dir: string; resolve: (r: ValidationResult) => void }>();

  load(
    dir: string,
    env: NodeJS.ProcessEnv = process.env,
    pluginsDir = './plugins',
    options: LoadOptions = {},
  ): Promise<ValidationResult> {
    return new Promise<ValidationResult>((resolve) => {
      let worker: Worker;
      try {
        worker = this.#start();
      } catch (err) {
        resolve(failed(dir, err instanceof Error ? err.message : String(err)));
        return;
      }
      const id = this.#next++;
      const timer = setTimeout(() => {
        this.#fail(worker, `took longer than ${offThreadTimeoutMs / 1000} s`);
      }, offThreadTimeoutMs);
      timer.unref();
      this.#pending.set(id, {
        dir,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      });
      const job: ValidationJob = { id, dir, env: { ...env }, pluginsDir, options };
      worker.postMessage(job);
    });
  }

  /**
   * Starts the thread ahead of the first validation: loading its modules takes about a second and a
   * half here, which would otherwise fall on the first reload after a file change.
   */
  warm(): void {
    try {
      this.#start();
    } catch {
      // the first load() starts it again, and reports what fails
    }
  }

  /** Stops the thread; validations still running become invalid results. */
  close(): void {
    if (this.#worker) this.#fail(this.#worker, 'Warren is stopping');
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const spec = workerSpec();
    const worker = new Worker(spec.url, spec.execArgv ? { execArgv: spec.execArgv } : {});
    worker.unref();
    worker.on('message', (reply: ValidationReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      pending?.resolve(reply.result);
    });
    worker.on('error', (err) => this.#fail(worker, err.message));
    worker.on('exit', (code) => this.#fail(worker, `the validation thread exited (code ${code})`));
    this.#worker = worker;
    return worker;
  }

  #fail(worker: Worker, message: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    void worker.terminate();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.resolve(failed(p.dir, message));
  }
}
