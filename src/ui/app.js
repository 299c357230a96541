// The status page: polls GET /api/status every 2 s while the tab is visible (nothing runs in
// Warren between polls, and a hidden tab does not poll), asks GET /api/topology again when the
// configuration version changes, and updates the page in place.
import { RouteDetail } from './detail.js';
import { clock, h, replace } from './dom.js';
import { TopologyGraph } from './graph.js';
import { History } from './rates.js';
import { ReloadList } from './reloads.js';
import { RoutesTable } from './routes.js';

const pollMs = 2_000;
const $ = (selector) => document.querySelector(selector);

const history = new History();
const detail = new RouteDetail($('#detail'), () => poll());
const open = (name) => {
  location.hash = `route=${encodeURIComponent(name)}`;
};
const graph = new TopologyGraph($('#topology'), $('#topology-note'), open);
const table = new RoutesTable($('#routes'), $('#routes-note'), open);
const reloads = new ReloadList($('#reloads'));
const filterInput = $('#filter');

let last;
let topology;
let timer;

function summary(status) {
  const item = (term, value, className) => [h('dt', {}, term), h('dd', { className }, value)];
  const more = status.moreReasons ? `; and ${status.moreReasons} more` : '';
  const ready = status.ready ? 'ready' : `not ready: ${status.reasons.slice(0, 3).join('; ')}${more}`;
  replace(
    $('#summary'),
    item('config version', status.version ? status.version.slice(0, 12) : '–', 'version'),
    item(
      'broker',
      status.connected ? `connected to ${status.node ?? '?'}` : 'not connected',
      status.connected ? 'ok' : 'bad',
    ),
    item('readiness', ready, status.ready ? 'ok' : 'bad'),
    item('routes', String(status.routes.length)),
    item('updated', clock(status.at), 'updated'),
  );
}

function problem(text) {
  const el = $('#problem');
  el.hidden = !text;
  el.textContent = text ?? '';
}

async function drawGraph(status) {
  try {
    if (!topology || topology.version !== status.version) {
      const response = await fetch('/api/topology');
      if (!response.ok) throw new Error(`/api/topology answered ${response.status}`);
      topology = await response.json();
    }
    if (topology.nodes.length === 0) graph.message('No route is configured.');
    else await graph.draw(topology, filterInput.value.trim());
    graph.colour(status);
  } catch (err) {
    graph.message(`The topology could not be drawn: ${err.message}`);
  }
}

function render(status) {
  summary(status);
  table.update(status, history, filterInput.value.trim());
  reloads.update(status.reloads);
  return drawGraph(status);
}

/** One poll at a time: a poll asked for while one is out (the tab shown again, an action done)
 * is left to that one, which schedules the next. */
let polling = false;

async function poll() {
  clearTimeout(timer);
  if (polling) return;
  polling = true;
  try {
    const response = await fetch('/api/status', { cache: 'no-store' });
    if (!response.ok) throw new Error(`/api/status answered ${response.status}`);
    last = await response.json();
    history.add(last);
    problem(undefined);
    await render(last);
  } catch (err) {
    problem(`Cannot reach Warren (${err.message}); trying again.`);
  } finally {
    polling = false;
  }
  if (!document.hidden) timer = setTimeout(poll, pollMs);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) clearTimeout(timer);
  else poll();
});
filterInput.addEventListener('input', () => last && render(last));

function followHash() {
  const match = /^#route=(.*)$/.exec(location.hash);
  let name;
  try {
    name = match ? decodeURIComponent(match[1]) : undefined;
  } catch {
    name = undefined; // a hand-typed hash that is not valid percent-encoding
  }
  if (name) detail.open(name);
  else detail.close();
}
window.addEventListener('hashchange', followHash);
followHash();
poll();
