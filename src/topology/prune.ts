import type { Plan } from './plan.js';

/** What `warren plan --prune` lists: declared once, unused by the running configuration. */
export interface PruneCandidates {
  queues: Array<{ name: string; messages?: number; consumers?: number }>;
  exchanges: string[];
}

/** Every queue and exchange a process declared, over all the configurations it ran. */
export interface Declared {
  queues: Set<string>;
  exchanges: Set<string>;
}

function queueNames(plan: Plan): string[] {
  return [...plan.queues, ...plan.routes.flatMap((r) => r.queues)].map((q) => q.name);
}

export function recordDeclared(declared: Declared, plan: Plan): void {
  for (const x of plan.exchanges) declared.exchanges.add(x.name);
  for (const name of queueNames(plan)) declared.queues.add(name);
}

/** Declared queues `plan` no longer uses, sorted. Pure: their message counts are the caller's I/O. */
export function unusedQueues(plan: Plan, declared: Declared): string[] {
  const used = new Set(queueNames(plan));
  return [...declared.queues].filter((q) => !used.has(q)).sort();
}

/** Declared exchanges `plan` no longer uses, sorted. */
export function unusedExchanges(plan: Plan, declared: Declared): string[] {
  const used = new Set(plan.exchanges.map((x) => x.name));
  return [...declared.exchanges].filter((x) => !used.has(x)).sort();
}
