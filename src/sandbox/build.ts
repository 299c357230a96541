import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ivm from 'isolated-vm';
import { isTimeout, reasonOf } from './result.js';
import { runnerSource } from './runner.js';
import type { PluginContextData, PluginMessage, SandboxOptions } from './types.js';

/** A module's top-level code runs once per (re)build, so it gets more than a message's budget. */
const LOAD_TIMEOUT_MS = 1_000;
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

type Run = (msg: PluginMessage, ctx: PluginContextData) => unknown;
type RunMany = (msgs: PluginMessage[], ctxs: PluginContextData[]) => unknown;

/** A plugin's isolate, its module evaluated, and the runner's entry points into it (see runner.ts). */
export interface Built {
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

/** The longest timeout Node's timers carry: the async deadline of a run is a setTimeout. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Builds a plugin's isolate: checks the time limit, compiles the module, refuses imports, evaluates
 * its top level under the load deadline, checks the default export and binds the runner to it.
 * Throws an Error naming the file and the reason; the isolate is disposed then.
 */
export async function build(file: string, source: string, options: SandboxOptions): Promise<Built> {
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
