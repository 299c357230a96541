import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load.js';
import { redact } from '../config/redact.js';
import type { PruneCandidates } from '../runtime/runtime.js';
import { type Plan, planTopology } from '../topology/plan.js';
import { formatPlan } from '../topology/print.js';
import type { Settings } from './main.js';

/** `prune`: also ask the Warren at `adminUrl` what it declared that the files no longer use. */
export type PlanSettings = Pick<
  Settings,
  'routes' | 'plugins' | 'schemas' | 'format' | 'maxFileBytes' | 'prune' | 'adminUrl'
>;

/**
 * `warren plan [DIR] [--prune]`: what `run` would declare, bind and consume, secrets redacted.
 * 1 when the routes are invalid or, with --prune, no running Warren answers.
 */
export async function planCommand(settings: PlanSettings, env: NodeJS.ProcessEnv): Promise<number> {
  const result = await loadConfig(settings.routes, env, settings.plugins, {
    maxFileBytes: settings.maxFileBytes,
    schemasDir: settings.schemas,
  });
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    return 1;
  }
  const planned = redact(planTopology(result.config), result.config.secrets, { urls: true });
  const prune = settings.prune ? await pruneCandidates(settings.adminUrl, planned) : undefined;
  if (prune instanceof Error) {
    process.stderr.write(`warren: ${prune.message}\n`);
    return 1;
  }
  if (settings.format === 'json') {
    process.stdout.write(`${JSON.stringify(prune ? { ...planned, prune } : planned, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatPlan(planned));
  if (prune) process.stdout.write(formatPrune(prune, settings.adminUrl));
  return 0;
}

/** What the running Warren declared that neither it nor these files use any more. */
async function pruneCandidates(adminUrl: string, planned: Plan): Promise<PruneCandidates | Error> {
  let candidates: PruneCandidates;
  try {
    const res = await fetch(new URL('/api/prune', adminUrl), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return new Error(`${adminUrl}/api/prune answered ${res.status}`);
    candidates = (await res.json()) as PruneCandidates;
  } catch (err) {
    return new Error(
      `no running Warren at ${adminUrl} (${(err as Error).message}): prune candidates come from the instance ` +
        'that declared them; pass --admin-url',
    );
  }
  const queues = new Set([...planned.queues, ...planned.routes.flatMap((r) => r.queues)].map((q) => q.name));
  const exchanges = new Set(planned.exchanges.map((x) => x.name));
  return {
    queues: candidates.queues.filter((q) => !queues.has(q.name)),
    exchanges: candidates.exchanges.filter((x) => !exchanges.has(x)),
  };
}

function formatPrune(prune: PruneCandidates, adminUrl: string): string {
  const lines = [
    '',
    `# prune candidates (declared by ${adminUrl}, used by neither it nor these files; never deleted by Warren)`,
  ];
  for (const q of prune.queues) {
    const counts = q.messages === undefined ? '' : ` (${q.messages} ready, ${q.consumers} consumers)`;
    lines.push(`queue     ${q.name}${counts}`);
  }
  for (const x of prune.exchanges) lines.push(`exchange  ${x}`);
  if (prune.queues.length + prune.exchanges.length === 0) lines.push('# none');
  return `${lines.join('\n')}\n`;
}
