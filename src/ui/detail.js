// One route's detail: its configuration as /api/routes/:name shows it (secrets redacted by
// Warren), its dead letters (GET /api/dlq/:route: needs the admin token), and pause, resume and
// redrive. The token stays in this tab (sessionStorage) and goes only to this origin.
import { h, replace } from './dom.js';

const tokenKey = 'warren-admin-token';

function refusal(status, body) {
  const why = body?.error ?? `HTTP ${status}`;
  return `Refused (${status}): ${why}. Enter the admin token (WARREN_ADMIN_TOKEN) above.`;
}

/** A request to Warren and its JSON answer; a network failure is an answer with status 0. */
async function call(url, init) {
  try {
    const response = await fetch(url, init);
    let body;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    return { status: response.status, ok: response.ok, body };
  } catch (err) {
    return { status: 0, ok: false, body: { error: `Warren did not answer (${err.message})` } };
  }
}

const refused = (answer) => answer.status === 401 || answer.status === 403;

function deadLetter(m) {
  const row = (label, value) =>
    value === undefined || value === null
      ? null
      : h('tr', {}, h('th', {}, label), h('td', {}, String(value)));
  const headers = Object.entries(m.headers ?? {}).map(([k, v]) =>
    row(k, typeof v === 'string' ? v : JSON.stringify(v)),
  );
  return h(
    'li',
    { className: 'dead-letter' },
    h(
      'table',
      {},
      row('message id', m.messageId),
      row('error', m.error),
      row('status', m.status),
      row('attempts', m.attempts),
      row('failed at', m.failedAt),
      row('exchange', m.exchange),
      row('routing key', m.routingKey),
      ...headers,
    ),
    h('pre', { className: 'body' }, m.body ?? ''),
  );
}

export class RouteDetail {
  #el;
  #name = '';
  #onChange;

  constructor(el, onChange) {
    this.#el = el;
    this.#onChange = onChange;
    const token = this.#find('#token');
    token.value = sessionStorage.getItem(tokenKey) ?? '';
    token.addEventListener('change', () => this.#keepToken());
    this.#find('#token-form').addEventListener('submit', (e) => e.preventDefault());
    this.#find('#token-forget').addEventListener('click', () => {
      sessionStorage.removeItem(tokenKey);
      token.value = '';
    });
    this.#find('#detail-close').addEventListener('click', () => this.close());
    this.#find('#action-pause').addEventListener('click', () => this.#act('pause'));
    this.#find('#action-resume').addEventListener('click', () => this.#act('resume'));
    this.#find('#action-redrive').addEventListener('click', () => this.#act('redrive'));
    this.#find('#action-dlq').addEventListener('click', () => this.#deadLetters());
  }

  #find(selector) {
    return this.#el.querySelector(selector);
  }

  #keepToken() {
    const token = this.#find('#token').value.trim();
    if (token) sessionStorage.setItem(tokenKey, token);
    else sessionStorage.removeItem(tokenKey);
    return token;
  }

  #headers() {
    const token = this.#keepToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  #say(text, kind) {
    const out = this.#find('#action-result');
    out.hidden = false;
    out.className = kind;
    out.textContent = text;
  }

  async open(name) {
    this.#name = name;
    this.#el.hidden = false;
    this.#find('#detail-title').textContent = name;
    this.#find('#action-result').hidden = true;
    replace(
      this.#find('#dlq'),
      h('p', { className: 'note' }, 'Needs the admin token: press “Show dead letters”.'),
    );
    const config = this.#find('#config');
    config.textContent = 'loading…';
    const answer = await call(`/api/routes/${encodeURIComponent(name)}`);
    if (name !== this.#name) return;
    config.textContent = answer.ok
      ? JSON.stringify(answer.body, null, 2)
      : (answer.body?.error ?? `HTTP ${answer.status}`);
    if (sessionStorage.getItem(tokenKey)) await this.#deadLetters();
  }

  close() {
    this.#name = '';
    this.#el.hidden = true;
    if (location.hash) history.replaceState(null, '', location.pathname);
  }

  async #act(kind) {
    const name = this.#name;
    const path = encodeURIComponent(name);
    const url = kind === 'redrive' ? `/api/dlq/${path}/redrive` : `/api/routes/${path}/${kind}`;
    this.#say(`${kind}: waiting for Warren…`, 'pending');
    const answer = await call(url, { method: 'POST', headers: this.#headers() });
    const body = answer.body;
    if (refused(answer)) {
      this.#say(refusal(answer.status, body), 'refused');
      this.#find('#token').focus();
      return;
    }
    if (!answer.ok) return this.#say(`${kind} failed (${answer.status}): ${body?.error ?? ''}`, 'refused');
    const done = {
      pause: () => `Paused ${name}${body.unfinished ? ` (${body.unfinished} deliveries unfinished)` : ''}.`,
      resume: () => `Resumed ${name}.`,
      redrive: () => `Moved ${body.moved} dead letters back to ${name}'s queue.`,
    }[kind]();
    this.#say(done, 'done');
    this.#onChange();
  }

  async #deadLetters() {
    const name = this.#name;
    const out = this.#find('#dlq');
    const answer = await call(`/api/dlq/${encodeURIComponent(name)}?limit=10`, { headers: this.#headers() });
    const body = answer.body;
    if (name !== this.#name) return;
    if (refused(answer)) return replace(out, h('p', { className: 'refused' }, refusal(answer.status, body)));
    if (!answer.ok)
      return replace(out, h('p', { className: 'refused' }, body?.error ?? `HTTP ${answer.status}`));
    const messages = body.messages ?? [];
    replace(
      out,
      h(
        'p',
        { className: 'note' },
        `${body.total} in ${body.queue}; the first ${messages.length} shown, left in place.`,
      ),
      messages.length > 0 ? h('ol', { className: 'dead-letters' }, messages.map(deadLetter)) : null,
    );
  }
}
