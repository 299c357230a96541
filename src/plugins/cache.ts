import type { Logger } from 'pino';
import type { PluginRef } from '../config/types.js';
import { PluginSandbox } from '../sandbox/isolate.js';

/**
 * One compiled sandbox per plugin file, source and limits, shared by every route that uses it and
 * reused across messages. A reload that changes a plugin's source gets a new sandbox; the old one is
 * disposed by `sweep` once no running route version uses it.
 */
export class SandboxCache {
  readonly #log: Logger;
  readonly #sandboxes = new Map<string, Promise<PluginSandbox>>();

  constructor(log: Logger) {
    this.#log = log;
  }

  static key(ref: PluginRef): string {
    return `${ref.file}\0${ref.sourceHash}\0${ref.timeoutMs}\0${ref.memoryLimitMb}`;
  }

  acquire(ref: PluginRef, source: string): Promise<PluginSandbox> {
    const key = SandboxCache.key(ref);
    let sandbox = this.#sandboxes.get(key);
    if (!sandbox) {
      const log = this.#log;
      sandbox = PluginSandbox.load(ref.name, source, {
        timeoutMs: ref.timeoutMs,
        memoryLimitMb: ref.memoryLimitMb,
        log: (route, level, text) => {
          const fields = { event: 'plugin_log', route, plugin: ref.name };
          if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error')
            log[level](fields, text);
          else log.info(fields, text);
        },
      });
      this.#sandboxes.set(key, sandbox);
      // A plugin that failed to compile is tried again next time (it may have been fixed).
      sandbox.catch(() => this.#sandboxes.delete(key));
    }
    return sandbox;
  }

  /** Disposes sandboxes no longer in `used` (keys from `SandboxCache.key`). */
  sweep(used: ReadonlySet<string>): void {
    for (const [key, sandbox] of this.#sandboxes) {
      if (used.has(key)) continue;
      this.#sandboxes.delete(key);
      void sandbox.then(
        (s) => s.dispose(),
        () => {},
      );
    }
  }

  disposeAll(): void {
    this.sweep(new Set());
  }
}
