import type { Logger } from 'pino';
import { ConfigWorker } from '../config/offthread.js';
import { defaultSchemasDir, hashSchemaDirectory } from '../config/schemas.js';
import {
  defaultWatchOptions,
  hashDirectories,
  type WatchOptions,
  watchDirectories,
} from '../config/watch.js';
import type { ReloadReport } from './report.js';
import type { Runtime } from './runtime.js';

export interface ReloaderOptions {
  routesDir: string;
  /** Watched too: a plugin edit reloads the routes that use it. */
  pluginsDir: string;
  /** Watched too: a schema edit reloads the routes that declare `schema:`. Default ./schemas. */
  schemasDir?: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  watch?: WatchOptions;
  /** Largest route file read (`--max-file-bytes`); default 4 MiB. */
  maxFileBytes?: number;
}

/**
 * Turns triggers (file changes, SIGHUP, POST /api/reload) into reloads of the runtime. Watch-driven
 * reloads run only when the directories' content changed since the last attempt, valid or not, so
 * an invalid file is reported once and the next change is tried again.
 */
export class Reloader {
  readonly #runtime: Runtime;
  readonly #options: ReloaderOptions;
  #lastHash: string | undefined;
  #watcher: { close(): void } | undefined;
  /** Validation runs off the event loop: a 40,000-entry file must not stall `/healthz`. */
  readonly #validator = new ConfigWorker();

  constructor(runtime: Runtime, options: ReloaderOptions) {
    this.#runtime = runtime;
    this.#options = options;
  }

  /** Remembers what the runtime was started with, so the first watch event is not a reload. */
  async prime(): Promise<void> {
    this.#lastHash = await this.#hash();
  }

  watch(): void {
    // A watching Warren will validate again: the thread is ready before the first change.
    this.#validator.warm();
    const { routesDir, pluginsDir } = this.#options;
    this.#watcher = watchDirectories(
      [routesDir, pluginsDir, { dir: this.#schemasDir, recursive: true }],
      () => void this.reload('watch', { onlyIfChanged: true }),
      this.#options.watch ?? defaultWatchOptions,
    );
  }

  close(): void {
    this.#watcher?.close();
    this.#validator.close();
  }

  /** Resolves with the report, or undefined when `onlyIfChanged` found nothing new. Hashing and
   * validation run in the runtime's queue too: each reload reads the files after the one before it
   * was applied, and configurations are applied in the order they were read. */
  reload(trigger: string, options: { onlyIfChanged?: boolean } = {}): Promise<ReloadReport | undefined> {
    const run = this.#runtime.reload(trigger, async () => {
      const hash = await this.#hash();
      if (options.onlyIfChanged && hash === this.#lastHash) return undefined;
      this.#lastHash = hash;
      return this.#validator.load(
        this.#options.routesDir,
        this.#options.env ?? process.env,
        this.#options.pluginsDir,
        {
          ...(this.#options.maxFileBytes === undefined ? {} : { maxFileBytes: this.#options.maxFileBytes }),
          schemasDir: this.#schemasDir,
        },
      );
    });
    run.catch((err: unknown) => this.#options.log.error({ event: 'reload_bug', err }, 'reload failed'));
    return run;
  }

  get #schemasDir(): string {
    return this.#options.schemasDir ?? defaultSchemasDir;
  }

  async #hash(): Promise<string> {
    const files = await hashDirectories([this.#options.routesDir, this.#options.pluginsDir]);
    // Schemas may sit in sub-directories (`common/money.json`): hashed as the load reads them.
    return `${files}:${await hashSchemaDirectory(this.#schemasDir)}`;
  }
}
