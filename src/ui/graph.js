// The topology as a graph: the server's nodes and edges (GET /api/topology), laid out by elkjs
// (layered, left to right) and drawn as SVG. Laid out again only when the configuration or the
// filter changes; at each poll only the route nodes' colours change.
import { h, replace, s } from './dom.js';
import { displayState } from './routes.js';

/** Route nodes drawn at most; more is a filter away (a layout of thousands of nodes takes seconds). */
export const maxGraphRoutes = 120;
const charWidth = 7;
const upstreamKinds = new Set(['exchange', 'queue']);
const clip = (text, n = 40) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** The nodes to draw: every one when few routes match, else the matching routes, what feeds them
 * (queues and exchanges, upstream) and their targets. */
function selection(topology, filter) {
  const routes = topology.nodes.filter((n) => n.kind === 'route');
  const chosen = routes.filter((n) => n.label.includes(filter)).slice(0, maxGraphRoutes);
  if (!filter && chosen.length === routes.length)
    return { nodes: topology.nodes, edges: topology.edges, chosen, routes };
  const keep = new Set(chosen.map((n) => n.id));
  const kind = new Map(topology.nodes.map((n) => [n.id, n.kind]));
  for (const e of topology.edges) if (keep.has(e.from) && kind.get(e.from) === 'route') keep.add(e.to);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of topology.edges) {
      if (keep.has(e.to) && !keep.has(e.from) && upstreamKinds.has(kind.get(e.from))) {
        keep.add(e.from);
        grew = true;
      }
    }
  }
  const nodes = topology.nodes.filter((n) => keep.has(n.id));
  const edges = topology.edges.filter((e) => keep.has(e.from) && keep.has(e.to));
  return { nodes, edges, chosen, routes };
}

function elkGraph(nodes, edges) {
  return {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '14',
      'elk.spacing.edgeLabel': '2',
    },
    children: nodes.map((n) => ({
      id: n.id,
      width: Math.max(clip(n.label).length, clip(n.detail ?? '').length, 6) * charWidth + 24,
      height: n.detail ? 38 : 26,
    })),
    edges: edges.map((e, i) => ({
      id: `e${i}`,
      sources: [e.from],
      targets: [e.to],
      labels: e.label
        ? [{ text: clip(e.label, 24), width: clip(e.label, 24).length * 6 + 6, height: 14 }]
        : [],
    })),
  };
}

export class TopologyGraph {
  #el;
  #note;
  #open;
  #key = '';
  /** route name → its <g> */
  #routeNodes = new Map();
  #elk = new window.ELK();

  constructor(el, note, open) {
    this.#el = el;
    this.#note = note;
    this.#open = open;
  }

  /** Lays the graph out again when the topology or the filter changed. */
  async draw(topology, filter) {
    const key = `${topology.version}\n${filter}`;
    if (key === this.#key) return;
    this.#key = key;
    const { nodes, edges, chosen, routes } = selection(topology, filter);
    this.#note.hidden = chosen.length === routes.length;
    this.#note.textContent = `Showing ${chosen.length} of ${routes.length} routes: filter below to choose.`;
    const layout = await this.#elk.layout(elkGraph(nodes, edges));
    if (key !== this.#key) return; // a newer draw started meanwhile
    this.#render(layout, nodes);
  }

  #render(layout, nodes) {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const width = Math.ceil(layout.width ?? 0);
    const height = Math.ceil(layout.height ?? 0);
    const svg = s('svg', {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: 'img',
      'aria-label': 'topology',
    });
    svg.append(
      s(
        'defs',
        {},
        s(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 8 8',
            refX: 8,
            refY: 4,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto',
          },
          s('path', { d: 'M0,0 L8,4 L0,8 z', className: 'arrowhead' }),
        ),
      ),
    );
    for (const edge of layout.edges ?? []) {
      for (const section of edge.sections ?? []) {
        const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
        svg.append(
          s('polyline', {
            className: 'edge',
            points: points.map((p) => `${p.x},${p.y}`).join(' '),
            'marker-end': 'url(#arrow)',
          }),
        );
      }
      for (const label of edge.labels ?? []) {
        svg.append(s('text', { className: 'edge-label', x: label.x + 3, y: label.y + 11 }, label.text));
      }
    }
    this.#routeNodes = new Map();
    for (const child of layout.children ?? []) {
      const node = byId.get(child.id);
      const g = s(
        'g',
        { className: `node ${node.kind}`, transform: `translate(${child.x},${child.y})`, 'data-id': node.id },
        s('title', {}, `${node.kind}: ${node.label}${node.detail ? ` (${node.detail})` : ''}`),
        s('rect', { width: child.width, height: child.height, rx: node.kind === 'route' ? 6 : 2 }),
        s('text', { x: 12, y: 17 }, clip(node.label)),
        node.detail ? s('text', { x: 12, y: 31, className: 'detail' }, clip(node.detail)) : null,
      );
      if (node.kind === 'route') {
        g.addEventListener('click', () => this.#open(node.label));
        this.#routeNodes.set(node.label, g);
      }
      svg.append(g);
    }
    replace(this.#el, svg);
  }

  /** Colours each drawn route by its state. */
  colour(status) {
    for (const route of status.routes) {
      const g = this.#routeNodes.get(route.name);
      if (g) g.setAttribute('class', `node route ${displayState(route).key}`);
    }
  }

  /** A message in place of the graph (elkjs failed, or nothing is configured). */
  message(text) {
    this.#key = '';
    replace(this.#el, h('p', { className: 'note' }, text));
  }
}
