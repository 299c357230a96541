// The last reloads (newest first): when, why, the result, the version, and per route what changed
// — or, for an invalid configuration, each problem with its file:line:col.
import { clock, h, replace } from './dom.js';

const short = (version) => (version ? version.slice(0, 12) : '–');

function routeChange(r) {
  const text = `${r.route}: ${r.change}${r.ok ? '' : ' — failed'}`;
  return h(
    'li',
    { className: r.ok ? 'change' : 'change failed' },
    text,
    r.error ? h('small', {}, `${r.error.code}: ${r.error.message}`) : null,
  );
}

/** Warren lists 50 routes and problems per reload (failures first) and counts the rest. */
const more = (n, what) => (n ? h('li', { className: 'note' }, `… and ${n} more ${what}`) : null);

function reloadItem(report) {
  const routes = report.routes ?? [];
  const issues = report.issues ?? [];
  return h(
    'li',
    { className: `reload ${report.result}`, 'data-result': report.result },
    h(
      'div',
      { className: 'reload-head' },
      h('time', { datetime: report.at }, clock(report.at)),
      h('span', { className: `badge ${report.result}` }, report.result),
      ` ${report.trigger} · version ${short(report.version)} · ${report.durationMs} ms`,
    ),
    routes.length > 0
      ? h('ul', { className: 'changes' }, routes.map(routeChange), more(report.moreRoutes, 'routes'))
      : null,
    issues.length > 0
      ? h(
          'ul',
          { className: 'issues' },
          issues.map((i) => h('li', {}, i)),
          more(report.moreIssues, 'problems'),
        )
      : null,
    routes.length === 0 && issues.length === 0 ? h('p', { className: 'note' }, 'no route changed') : null,
  );
}

export class ReloadList {
  #el;
  #key = '';

  constructor(el) {
    this.#el = el;
  }

  update(reloads) {
    const key = reloads.map((r) => `${r.at} ${r.result} ${r.version}`).join('|');
    if (key === this.#key) return;
    this.#key = key;
    if (reloads.length === 0) replace(this.#el, h('li', { className: 'note' }, 'no reload yet'));
    else replace(this.#el, reloads.map(reloadItem));
  }
}
