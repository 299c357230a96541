import type { MessageSchema, TargetSpec } from '../config/types.js';
import type { BindingDecl, Plan } from './plan.js';

function args(a: Record<string, unknown>): string {
  const entries = Object.entries(a);
  return entries.length ? ` ${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}` : '';
}

function binding(b: BindingDecl): string {
  const match = b.headers ? `headers${args(b.headers)}` : `key "${b.key}"`;
  return `  bind    ${b.destinationKind} ${b.destination} ← ${b.exchange} (${match})`;
}

/** `warren plan`'s text form: one line per declaration, binding and consumer. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [`# config version ${plan.version}`];
  for (const x of plan.exchanges) {
    const flags = [
      x.durable ? 'durable' : 'transient',
      x.autoDelete && 'auto-delete',
      x.internal && 'internal',
    ]
      .filter(Boolean)
      .join(',');
    const ae = x.alternateExchange ? ` alternate-exchange=${x.alternateExchange}` : '';
    lines.push(`exchange  ${x.name} (${x.type}, ${flags})${ae}${args(x.arguments)}`);
  }
  for (const b of plan.exchangeBindings) lines.push(binding(b));
  for (const q of plan.queues) lines.push(`queue     ${q.name}${args(q.arguments)}`);
  for (const b of plan.queueBindings) lines.push(binding(b));
  for (const r of plan.routes) {
    lines.push('', `route     ${r.name}  (${r.origin.file}:${r.origin.line})`);
    for (const q of r.queues) lines.push(`  queue   ${q.name} [${q.role}]${args(q.arguments)}`);
    for (const b of r.bindings) lines.push(binding(b));
    const single = r.singleActiveConsumer ? ' single-active-consumer' : '';
    lines.push(`  consume ${r.queue} prefetch=${r.prefetch} concurrency=${r.concurrency}${single}`);
    if (r.schema) lines.push(`  check   ${describeSchema(r.schema)}`);
    if (r.transform) lines.push(`  transform plugin ${r.transform.name} timeout=${r.transform.timeoutMs}ms`);
    const output = r.outputSchema ? ` (checked against schema ${r.outputSchema.name})` : '';
    lines.push(`  deliver ${describeTarget(r.target)}${output}`);
    lines.push(`  retry   attempts=${r.retry.attempts} then dead-letter to ${r.deadLetterQueue}`);
  }
  return `${lines.join('\n')}\n`;
}

function describeSchema(s: MessageSchema): string {
  if ('name' in s) return `schema ${s.name}`;
  const { by, map, otherwise } = s.choose;
  const pairs = Object.entries(map).map(([value, name]) => `${JSON.stringify(value)}→${name}`);
  return `schema by ${'header' in by ? `header ${by.header}` : 'type'}: ${pairs.join(' ')} otherwise=${otherwise}`;
}

function describeTarget(t: TargetSpec): string {
  switch (t.kind) {
    case 'webhook':
      return `webhook ${t.method} ${t.url} timeout=${t.timeoutMs}ms`;
    case 'republish':
      return `republish exchange="${t.exchange}" routingKey="${t.routingKey}" mandatory=${t.mandatory}`;
    case 'plugin':
      return `plugin ${t.plugin.name} timeout=${t.plugin.timeoutMs}ms memory=${t.plugin.memoryLimitMb}MB`;
  }
}
