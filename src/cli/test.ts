import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load.js';
import { listTestFiles } from '../route-tests/parse.js';
import { type CaseResult, runTestFiles } from '../route-tests/run.js';
import { renderDiff } from '../route-tests/views.js';
import { planTopology } from '../topology/plan.js';
import { type Output, processOutput } from './output.js';

export const defaultTestDir = './routes.d.test';

export interface TestSettings {
  routes: string;
  plugins: string;
  /** Default ./schemas. */
  schemas?: string;
  format: 'text' | 'json';
}

/**
 * `warren test [DIR|FILE...]`: runs route test files against the routes of `settings.routes`.
 * 0 when every case passes; 1 on a failed case, an invalid test file or invalid routes; 2 when a
 * path does not exist.
 */
export async function testCommand(
  settings: TestSettings,
  paths: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: Output = processOutput,
): Promise<number> {
  const where = paths.length > 0 ? paths : [defaultTestDir];
  let files: string[];
  try {
    files = await listTestFiles(where);
  } catch (err) {
    out.stderr(
      `warren: ${(err as Error).message}\nUsage: warren test [DIR|FILE...] [--routes DIR] [--plugins DIR] [--schemas DIR]\n`,
    );
    return 2;
  }
  if (files.length === 0) {
    out.stderr(`warren: no test files (*.yaml) in ${where.join(', ')}\n`);
    return 1;
  }
  const loaded = await loadConfig(settings.routes, env, settings.plugins, {
    ...(settings.schemas === undefined ? {} : { schemasDir: settings.schemas }),
  });
  if (!loaded.ok) {
    for (const issue of loaded.issues) out.stderr(`${formatIssue(issue)}\n`);
    out.stderr(`${loaded.issues.length} error(s) in ${settings.routes}: no tests run\n`);
    return 1;
  }
  const report = await runTestFiles(files, loaded.config, planTopology(loaded.config));
  const passed = report.results.filter((r) => r.comparison.ok).length;
  const failed = report.results.length - passed;
  const code = failed > 0 || report.issues.length > 0 ? 1 : 0;

  if (settings.format === 'json') {
    const results = report.results.map((r) => ({
      file: r.file,
      line: r.line,
      route: r.route,
      name: r.name,
      ok: r.comparison.ok,
      ...(r.comparison.first ? { difference: r.comparison.first } : {}),
      expected: r.comparison.expected,
      actual: r.comparison.actual,
      logs: r.logs,
    }));
    out.stdout(`${JSON.stringify({ passed, failed, results, issues: report.issues }, null, 2)}\n`);
    return code;
  }

  for (const result of report.results) out.stdout(renderResult(result));
  for (const issue of report.issues) out.stderr(`${formatIssue(issue)}\n`);
  if (report.issues.length > 0) out.stderr(`${report.issues.length} problem(s) in test files\n`);
  out.stdout(`${passed} passed, ${failed} failed\n`);
  return code;
}

export function renderResult(result: CaseResult): string {
  const title = `${result.route} › ${result.name}`;
  if (result.comparison.ok) return `✓ ${title}\n`;
  const lines = [`✗ ${title}`, `    at ${result.file}:${result.line}`];
  const first = result.comparison.first;
  if (first) lines.push(`    ${first.path}: ${first.message}`);
  lines.push('    (- expected, + actual)');
  for (const line of renderDiff(result.comparison)) lines.push(`    ${line}`);
  if (result.logs.length > 0) {
    lines.push('    plugin log:');
    for (const line of result.logs) lines.push(`      ${line}`);
  }
  return `${lines.join('\n')}\n`;
}
