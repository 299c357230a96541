import { diffArrays } from 'diff';
import { stringify } from 'yaml';
import {
  type Expectation,
  type Observed,
  outcomeKey,
  type PublishExpectation,
  type RecordedPublish,
  type RequestExpectation,
  schemaErrors,
} from './suite.js';
import type { RecordedRequest } from './webhook.js';

/**
 * The expectation and the observation in one shape (only the fields the case compares), and the
 * line diff of the two that a failing case prints.
 */

export function expectedView(expect: Expectation): Record<string, unknown> {
  switch (expect.kind) {
    case 'webhook':
      return { webhook: expect.requests };
    case 'publish':
      return { publish: expect.messages };
    case 'drop':
    case 'filtered':
      return { [expect.kind]: expect.reason ?? true };
    case 'invalid': {
      const { kind: _, ...parts } = expect;
      const given = parts.reason ?? (Object.keys(parts).length > 0 ? parts : true);
      return { invalid: given };
    }
    default:
      return { [expect.kind]: expect.reason };
  }
}

export function actualView(expect: Expectation, observed: Observed): Record<string, unknown> {
  const { outcome } = observed;
  if (outcome.kind !== 'ack') {
    const key = outcomeKey(outcome);
    if (key === 'invalid' && expect.kind === 'invalid') return { invalid: invalidView(expect, observed) };
    // `drop: true` / `filtered: true` ask for no particular reason: show it as matched.
    const anyReason = (expect.kind === 'drop' || expect.kind === 'filtered') && expect.reason === undefined;
    const shown = anyReason && expect.kind === key ? true : outcome.reason;
    return { [key]: shown };
  }
  if (observed.target === 'webhook') {
    const wanted = expect.kind === 'webhook' ? expect.requests : [];
    return { webhook: observed.requests.map((r, i) => requestView(r, wanted[i])) };
  }
  const wanted = expect.kind === 'publish' ? expect.messages : [];
  return { publish: observed.published.map((m, i) => publishView(m, wanted[i])) };
}

/** What happened, in the shape the `invalid` expectation was given in. */
function invalidView(expect: Extract<Expectation, { kind: 'invalid' }>, observed: Observed): unknown {
  const { outcome } = observed;
  const reason = outcome.kind === 'ack' ? '' : outcome.reason;
  if (expect.reason !== undefined) return reason;
  if (expect.pointer === undefined && expect.message === undefined && expect.schema === undefined)
    return true;
  const errors = schemaErrors(reason);
  const error = errors.find((e) => e.pointer === expect.pointer) ?? errors[0];
  const view: Record<string, unknown> = {};
  if (expect.pointer !== undefined) view.pointer = error?.pointer;
  if (expect.message !== undefined) {
    view.message = error?.message.includes(expect.message) ? expect.message : error?.message;
  }
  if (expect.schema !== undefined)
    view.schema = outcome.kind === 'dead-letter' ? outcome.contract?.schema : undefined;
  return view;
}

function requestView(r: RecordedRequest, e: RequestExpectation | undefined): Record<string, unknown> {
  if (!e) return { url: r.url, method: r.method, body: bodyView(r.body, undefined) };
  const view: Record<string, unknown> = {};
  if ('url' in e) view.url = r.url;
  if ('method' in e) view.method = r.method;
  if (e.headers) view.headers = headersView(e.headers, r.headers);
  if ('body' in e) view.body = bodyView(r.body, e.body);
  return view;
}

function publishView(m: RecordedPublish, e: PublishExpectation | undefined): Record<string, unknown> {
  if (!e) return { exchange: m.exchange, routingKey: m.routingKey, body: bodyView(m.body, undefined) };
  const view: Record<string, unknown> = {};
  if ('exchange' in e) view.exchange = m.exchange;
  if ('routingKey' in e) view.routingKey = m.routingKey;
  if (e.headers) view.headers = headersView(e.headers, m.headers);
  if ('body' in e) view.body = bodyView(m.body, e.body);
  return view;
}

/** The actual headers the expectation names; an absent one shows as null when null was expected. */
function headersView(
  expected: Record<string, unknown>,
  actual: Record<string, unknown>,
): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(expected)) {
    if (name in actual) view[name] = actual[name];
    else if (value === null) view[name] = null;
  }
  return view;
}

function bodyView(body: Buffer, expected: unknown): unknown {
  const text = body.toString('utf8');
  if (typeof expected === 'string') return text;
  const parsed = parseJson(text);
  return parsed === notJson ? text : parsed;
}

export const notJson = Symbol('not JSON');

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return notJson;
  }
}

/**
 * Past this many changed lines the two views have little in common: the diff gives up and shows
 * all of one against all of the other rather than spend quadratic time on a useless answer.
 */
const maxEditLength = 1_000;

/**
 * A line diff of the expected and the actual view as YAML: `-` lines only in what was expected,
 * `+` lines only in what happened.
 */
export function renderDiff(views: { expected: unknown; actual: unknown }): string[] {
  const a = stringify(views.expected, { lineWidth: 0 }).trimEnd().split('\n');
  const b = stringify(views.actual, { lineWidth: 0 }).trimEnd().split('\n');
  const changes = diffArrays(a, b, { maxEditLength }) ?? [
    { value: a, removed: true, added: false },
    { value: b, removed: false, added: true },
  ];
  const lines = changes.flatMap((change) => {
    const mark = change.removed ? '- ' : change.added ? '+ ' : '  ';
    return change.value.map((line) => `${mark}${line}`);
  });
  return collapse(lines);
}

/** A long diff keeps three unchanged lines around each change; longer unchanged runs become `…`. */
function collapse(lines: string[], context = 3, short = 30): string[] {
  if (lines.length <= short) return lines;
  const near = lines.map(() => false);
  lines.forEach((line, i) => {
    if (line.startsWith('  ')) return;
    for (let j = Math.max(0, i - context); j <= Math.min(lines.length - 1, i + context); j++) near[j] = true;
  });
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (near[i]) out.push(line);
    else if (i === 0 || near[i - 1]) out.push('  …');
  });
  return out;
}
