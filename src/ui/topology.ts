import type { Binding, TargetSpec } from '../config/types.js';
import type { Plan } from '../topology/plan.js';

/**
 * `GET /api/topology`: the running plan as a graph the status page lays out — exchanges →
 * (bindings, as edge labels) → queues → routes → targets. A webhook target is its origin only
 * (scheme, host, port: never a path, query or user-info, which may carry credentials); routes
 * sending to the same origin, exchange or plugin share one target node. The page asks again only
 * when the configuration version changes.
 */

export type GraphNodeKind = 'exchange' | 'queue' | 'route' | 'webhook' | 'republish' | 'plugin';

export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  label: string;
  /** A second line: an exchange's type, a republish routing key, a route's transform. */
  detail?: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** A binding's routing key (or `headers` for a header match). */
  label?: string;
}

export interface TopologyView {
  version: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The scheme, host and port of a webhook URL; nothing that could hold a secret. */
export function webhookOrigin(url: string): string {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? '(no origin)' : origin;
  } catch {
    return '(invalid URL)';
  }
}

function targetNode(target: TargetSpec): GraphNode {
  switch (target.kind) {
    case 'webhook': {
      const origin = webhookOrigin(target.url);
      return { id: `webhook:${origin}`, kind: 'webhook', label: origin };
    }
    case 'republish':
      return {
        id: `republish:${target.exchange}`,
        kind: 'republish',
        label: target.exchange === '' ? '(default exchange)' : target.exchange,
      };
    case 'plugin':
      return { id: `plugin:${target.plugin.name}`, kind: 'plugin', label: target.plugin.name };
  }
}

function bindingLabel(binding: Binding): string {
  if (binding.headers) return 'headers';
  return binding.key === '' ? '(any)' : binding.key;
}

export function topologyView(plan: Plan): TopologyView {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const node = (n: GraphNode) => {
    if (!nodes.has(n.id)) nodes.set(n.id, n);
    return n.id;
  };
  const exchange = (name: string) => {
    const spec = plan.exchanges.find((x) => x.name === name);
    return node({
      id: `exchange:${name}`,
      kind: 'exchange',
      label: name === '' ? '(default exchange)' : name,
      ...(spec ? { detail: spec.type } : {}),
    });
  };
  const bind = (bindings: Binding[], to: string) => {
    for (const b of bindings) edges.push({ from: exchange(b.exchange), to, label: bindingLabel(b) });
  };

  for (const x of plan.exchanges) exchange(x.name);
  for (const b of plan.exchangeBindings) bind([b], exchange(b.destination));
  for (const q of plan.queues) node({ id: `queue:${q.name}`, kind: 'queue', label: q.name });
  for (const b of plan.queueBindings) bind([b], `queue:${b.destination}`);
  for (const route of plan.routes) {
    const queue = node({ id: `queue:${route.queue}`, kind: 'queue', label: route.queue });
    bind(route.bindings, queue);
    const id = node({
      id: `route:${route.name}`,
      kind: 'route',
      label: route.name,
      ...(route.transform ? { detail: `transform ${route.transform.name}` } : {}),
    });
    edges.push({ from: queue, to: id });
    edges.push({ from: id, to: node(targetNode(route.target)) });
  }
  return { version: plan.version, nodes: [...nodes.values()], edges: dedupe(edges) };
}

/** Two routes on one queue bind it the same way: one edge each, not one per route. */
function dedupe(edges: GraphEdge[]): GraphEdge[] {
  const seen = new Set<string>();
  return edges.filter((e) => {
    const key = JSON.stringify([e.from, e.to, e.label]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
