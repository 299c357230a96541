import { checkPlugins } from '../config/check-plugins.js';
import { formatIssue, issueJson } from '../config/issues.js';
import { loadConfig } from '../config/load.js';

export interface ValidateSettings {
  routes: string;
  plugins: string;
  schemas: string;
  format: 'text' | 'json';
  maxFileBytes: number;
}

/**
 * `warren validate [DIR]`: the route files and the plugins they name. 0 when valid; 1 with every
 * issue at file:line:col (on stderr as text, on stdout as JSON).
 */
export async function validateCommand(settings: ValidateSettings, env: NodeJS.ProcessEnv): Promise<number> {
  const result = await checkPlugins(
    await loadConfig(settings.routes, env, settings.plugins, {
      maxFileBytes: settings.maxFileBytes,
      schemasDir: settings.schemas,
    }),
  );
  if (settings.format === 'json') {
    const out = result.ok
      ? { valid: true, routes: result.config.routes.length, issues: [] }
      : { valid: false, issues: result.issues.map(issueJson) };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`${result.issues.length} error(s) in ${settings.routes}\n`);
    return 1;
  }
  const { exchanges, queues, routes } = result.config;
  process.stdout.write(
    `${settings.routes}: valid (${routes.length} routes, ${exchanges.length} exchanges, ${queues.length} queues)\n`,
  );
  return 0;
}
