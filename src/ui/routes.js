// The routes table: one row per route, updated in place at every poll (rows and charts are kept
// while the route is shown), so a glance at a row shows what changed since the last minutes.
import { sparkline } from './charts.js';
import { duration, h, perSecond, replace } from './dom.js';
import { series } from './rates.js';

/** Rows drawn at most, and charts among them: a page of 1,000 routes is filtered, not scrolled. */
export const maxRows = 200;
const maxCharts = 60;

/** What colours a route: failed, paused and an open circuit before a running consumer. */
export function displayState(route) {
  if (route.state === 'failed') return { key: 'failed', text: 'failed' };
  if (route.state === 'paused') return { key: 'paused', text: 'paused' };
  if (route.circuit === 'open') return { key: 'circuit-open', text: 'circuit open' };
  if (route.circuit === 'half-open') return { key: 'half-open', text: 'circuit half-open' };
  if (route.state === 'consuming') return { key: 'consuming', text: 'consuming' };
  return { key: 'half-open', text: route.state };
}

/** Why deliveries wait, in words: the circuit, the rate limit, the byte budget, or a free slot. */
function heldText(route, share) {
  const parts = [];
  if (route.waiting > 0) {
    const why =
      route.circuit === 'open'
        ? 'circuit'
        : route.rateLimited
          ? 'rate limit'
          : route.budgetFull
            ? 'byte budget'
            : 'a slot';
    parts.push(`${route.waiting} (${why})`);
  }
  if (share.rateLimit >= 0.01) parts.push(`rate limit ${Math.round(share.rateLimit * 100)}%`);
  if (share.byteBudget >= 0.01) parts.push(`byte budget ${Math.round(share.byteBudget * 100)}%`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

export class RoutesTable {
  #body;
  #note;
  #open;
  /** name → { row, cells, chart } */
  #rows = new Map();
  #shown = '';

  constructor(table, note, open) {
    this.#body = table.tBodies[0];
    this.#note = note;
    this.#open = open;
  }

  #row(route, withChart) {
    const cell = (className) => h('td', { className });
    const cells = {
      state: cell('state'),
      chart: cell('chart'),
      delivered: cell('num'),
      retried: cell('num'),
      dead: cell('num'),
      filtered: cell('num'),
      inFlight: cell('num'),
      held: cell('held'),
      dlq: cell('num'),
      latency: cell('num'),
    };
    const link = h(
      'a',
      { href: `#route=${encodeURIComponent(route.name)}`, onclick: () => this.#open(route.name) },
      route.name,
    );
    const row = h(
      'tr',
      { 'data-route': route.name },
      h('td', { className: 'name' }, link),
      ...Object.values(cells),
    );
    return { row, cells, withChart, chart: undefined };
  }

  update(status, history, filter) {
    const routes = status.routes.filter((r) => r.name.includes(filter));
    const shown = routes.slice(0, maxRows);
    const key = shown.map((r) => r.name).join('\n');
    if (key !== this.#shown) {
      for (const kept of this.#rows.values()) kept.chart?.destroy();
      this.#rows = new Map(shown.map((r, i) => [r.name, this.#row(r, i < maxCharts)]));
      replace(
        this.#body,
        [...this.#rows.values()].map((r) => r.row),
      );
      this.#shown = key;
    }
    this.#note.hidden = routes.length === shown.length && shown.length <= maxCharts;
    this.#note.textContent = `${routes.length} routes${filter ? ' match' : ''}; the first ${shown.length} are listed, the first ${Math.min(maxCharts, shown.length)} with charts: filter to narrow.`;
    for (const route of shown) this.#fill(this.#rows.get(route.name), route, status, history);
  }

  #fill(kept, route, status, history) {
    const { cells } = kept;
    const state = displayState(route);
    kept.row.className = state.key;
    const reason = route.error ?? route.pending;
    replace(
      cells.state,
      h('span', { className: `badge ${state.key}` }, state.text),
      reason ? h('small', {}, reason) : null,
    );
    const data = history.chart(route.name);
    if (kept.withChart && data[0].length > 1) {
      if (kept.chart) kept.chart.setData(data);
      else kept.chart = sparkline(cells.chart, data, series);
    }
    const latest = history.latest(route.name);
    for (const s of series) cells[s.key].textContent = perSecond(latest[s.key]);
    cells.inFlight.textContent = String(route.inFlight);
    cells.held.textContent = heldText(route, history.heldShare(route.name));
    cells.dlq.textContent = route.dlq === null ? '?' : String(route.dlq);
    cells.dlq.classList.toggle('alarm', (route.dlq ?? 0) > 0);
    const windowed = history.quantiles(route.name, status.bounds);
    const q = windowed ?? { p50: route.p50, p99: route.p99 };
    cells.latency.textContent = `${duration(q.p50)} / ${duration(q.p99)}`;
    cells.latency.title = windowed ? 'deliveries of the last minutes' : 'since start';
  }
}
