import { spawn } from 'node:child_process';

export interface ToolResult {
  code: number | null;
  output: string;
}

/**
 * Runs Debian's `promtool` (the prometheus package). Missing, it throws rather than skips: these
 * tests are the only check of the rules and the dashboard, and `.ci/run` installs it.
 */
export function promtool(args: string[], stdin?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error(
              'promtool is not installed: `apt-get install prometheus` (Debian) — .ci/run does it; these tests need it',
            )
          : err,
      ),
    );
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(stdin ?? '');
  });
}

/** The metric names a PromQL expression reads (Warren's all start with `warren_`; `up` is Prometheus's). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(warren_\w+|up)\b(?=\s*[{[)\s]|$)/g) ?? [])];
}

/**
 * The metric names a /metrics text declares (`# TYPE`), with the series a histogram or summary
 * adds (`_bucket`, `_sum`, `_count`).
 */
export function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(`${name}${s}`);
  }
  return names;
}

export const dashboardFile = 'deploy/grafana/warren-dashboard.json';

/** Grafana's variables as a query would see them, each replaced by a value PromQL accepts. */
const variables: Array<[RegExp, string]> = [
  [/\$__(rate_interval|interval|range)\b/g, '5m'],
  [/\$\{route\}|\$route\b/g, 'orders'],
];

export function substituteVariables(expr: string): string {
  return variables.reduce((text, [pattern, value]) => text.replace(pattern, value), expr);
}

/** Every `expr` of the dashboard's panels and targets, as written (with Grafana variables). */
export function dashboardExprs(dashboard: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') found.push(value);
        else walk(value);
      }
    }
  };
  walk(dashboard);
  return found;
}
