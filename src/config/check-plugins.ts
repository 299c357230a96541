import type { ErrorCode } from '../errors.js';
import { SandboxCache } from '../plugins/cache.js';
import { PluginSandbox } from '../sandbox/isolate.js';
import { type ConfigIssue, sortIssues } from './issues.js';
import type { ValidationResult } from './load.js';

/**
 * `warren validate` compiles every plugin a route names, as `warren run` would load it (same
 * sandbox, same checks: syntax, no imports, a default-export function, top-level code that ends),
 * without running a message. A plugin that would fail with WARREN_E_PLUGIN_FAILED at start is then
 * an issue at the line of the route file that names it, alongside every other issue.
 */
export async function checkPlugins(result: ValidationResult): Promise<ValidationResult> {
  const issues: Array<ConfigIssue & { code: ErrorCode }> = [];
  /** One compile per file, source and limits, however many routes name it. */
  const verdicts = new Map<string, Promise<string | undefined>>();
  for (const use of result.pluginUses ?? []) {
    const key = SandboxCache.key(use.ref);
    let verdict = verdicts.get(key);
    if (!verdict) {
      // The absolute path: a syntax error's [file:line:col] then points at the plugin itself.
      verdict = PluginSandbox.check(use.ref.file, use.source, {
        timeoutMs: use.ref.timeoutMs,
        memoryLimitMb: use.ref.memoryLimitMb,
        log: () => {},
      }).then(
        () => undefined,
        (err: unknown) => (err as Error).message.replace(`plugin ${use.ref.file}: `, ''),
      );
      verdicts.set(key, verdict);
    }
    const failure = await verdict;
    if (failure) {
      const message = `plugin \`${use.ref.name}\` cannot be loaded: ${failure}`;
      issues.push({ ...use.at, code: 'WARREN_E_PLUGIN_FAILED', message });
    }
  }
  if (issues.length === 0) return result;
  const all = sortIssues([...(result.ok ? [] : result.issues), ...issues]);
  return {
    ok: false,
    issues: all,
    version: result.ok ? result.config.version : result.version,
    ...(result.pluginUses ? { pluginUses: result.pluginUses } : {}),
  };
}
