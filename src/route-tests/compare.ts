import { stringify } from 'yaml';
import type { Outcome } from '../delivery/outcome.js';
import type { Expectation, PublishExpectation, RequestExpectation } from './parse.js';
import type { RecordedRequest } from './webhook.js';

/** One message a republish or plugin target would have published. */
export interface RecordedPublish {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
  contentType?: string;
  body: Buffer;
}

/** What the route did with one case's message. */
export interface Observed {
  outcome: Outcome;
  /** Whether an ack means webhook requests or published messages. */
  target: 'webhook' | 'publish';
  requests: RecordedRequest[];
  published: RecordedPublish[];
}

export interface Comparison {
  ok: boolean;
  /** The first difference: where (`webhook[0].body.amount`) and what. */
  first?: { path: string; message: string };
  /** The expectation, and what happened in the same shape (only the fields the case compares). */
  expected: Record<string, unknown>;
  actual: Record<string, unknown>;
}

const outcomeKeys: Record<Outcome['kind'], string> = {
  ack: 'ack',
  drop: 'drop',
  retry: 'retry',
  'dead-letter': 'deadLetter',
  filtered: 'filtered',
};

export function compare(expect: Expectation, observed: Observed): Comparison {
  const expected = expectedView(expect);
  const actual = actualView(expect, observed);
  const first = firstProblem(expect, observed);
  return { ok: first === undefined, ...(first ? { first } : {}), expected, actual };
}

function firstProblem(expect: Expectation, observed: Observed): Comparison['first'] {
  const { outcome } = observed;
  const wanted = expect.kind === 'webhook' || expect.kind === 'publish' ? 'ack' : expect.kind;
  if (outcomeKeys[outcome.kind] !== wanted) {
    const got =
      outcome.kind === 'ack'
        ? `${describeSent(observed)} (ack)`
        : `${outcomeKeys[outcome.kind]}: ${outcome.reason}`;
    return { path: expect.kind, message: `expected ${describeExpected(expect)}, got ${got}` };
  }
  switch (expect.kind) {
    case 'webhook':
      return compareList('webhook', 'request', expect.requests, observed.requests, compareRequest);
    case 'publish':
      return compareList('publish', 'message', expect.messages, observed.published, comparePublish);
    default: {
      const reason = outcome.kind === 'ack' ? '' : outcome.reason;
      if (expect.reason === undefined || reason.includes(expect.reason)) return undefined;
      return {
        path: expect.kind,
        message: `expected a reason containing ${show(expect.reason)}, got ${show(reason)}`,
      };
    }
  }
}

function describeExpected(expect: Expectation): string {
  switch (expect.kind) {
    case 'webhook':
      return `${count(expect.requests.length, 'webhook request')} (ack)`;
    case 'publish':
      return `${count(expect.messages.length, 'published message')} (ack)`;
    default:
      return expect.kind;
  }
}

function describeSent(observed: Observed): string {
  return observed.target === 'webhook'
    ? count(observed.requests.length, 'webhook request')
    : count(observed.published.length, 'published message');
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

type Problem = { path: string; message: string } | undefined;

function compareList<E, A>(
  key: string,
  noun: string,
  expected: E[],
  actual: A[],
  item: (path: string, e: E, a: A) => Problem,
): Problem {
  const n = Math.min(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    const problem = item(`${key}[${i}]`, expected[i]!, actual[i]!);
    if (problem) return problem;
  }
  if (expected.length === actual.length) return undefined;
  return { path: key, message: `expected ${count(expected.length, noun)}, got ${actual.length}` };
}

function compareRequest(path: string, e: RequestExpectation, a: RecordedRequest): Problem {
  if (e.url !== undefined && e.url !== a.url)
    return { path: `${path}.url`, message: `expected ${show(e.url)}, got ${show(a.url)}` };
  if (e.method !== undefined && e.method !== a.method)
    return { path: `${path}.method`, message: `expected ${show(e.method)}, got ${show(a.method)}` };
  for (const [name, value] of Object.entries(e.headers ?? {})) {
    const problem = compareHeader(`${path}.headers${key(name)}`, value, a.headers[name]);
    if (problem) return problem;
  }
  return 'body' in e ? compareBody(`${path}.body`, e.body, a.body) : undefined;
}

function comparePublish(path: string, e: PublishExpectation, a: RecordedPublish): Problem {
  if (e.exchange !== undefined && e.exchange !== a.exchange)
    return { path: `${path}.exchange`, message: `expected ${show(e.exchange)}, got ${show(a.exchange)}` };
  if (e.routingKey !== undefined && e.routingKey !== a.routingKey)
    return {
      path: `${path}.routingKey`,
      message: `expected ${show(e.routingKey)}, got ${show(a.routingKey)}`,
    };
  for (const [name, value] of Object.entries(e.headers ?? {})) {
    const at = `${path}.headers${key(name)}`;
    const problem =
      value === null ? compareHeader(at, null, a.headers[name]) : deepDifference(at, value, a.headers[name]);
    if (problem) return problem;
  }
  return 'body' in e ? compareBody(`${path}.body`, e.body, a.body) : undefined;
}

function compareHeader(path: string, expected: unknown, actual: unknown): Problem {
  if (expected === null) {
    return actual === undefined
      ? undefined
      : { path, message: `expected no such header, got ${show(actual)}` };
  }
  if (actual === undefined) return { path, message: `expected ${show(expected)}, got no such header` };
  return expected === actual
    ? undefined
    : { path, message: `expected ${show(expected)}, got ${show(actual)}` };
}

function compareBody(path: string, expected: unknown, body: Buffer): Problem {
  const text = body.toString('utf8');
  if (typeof expected === 'string') {
    return expected === text ? undefined : { path, message: `expected ${show(expected)}, got ${show(text)}` };
  }
  const parsed = parseJson(text);
  if (parsed === notJson) return { path, message: `expected JSON ${show(expected)}, got ${show(text)}` };
  return deepDifference(path, expected, parsed);
}

/** The first place where `actual` differs from `expected` (deep equality). */
export function deepDifference(path: string, expected: unknown, actual: unknown): Problem {
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const n = Math.min(expected.length, actual.length);
    for (let i = 0; i < n; i++) {
      const problem = deepDifference(`${path}[${i}]`, expected[i], actual[i]);
      if (problem) return problem;
    }
    if (expected.length === actual.length) return undefined;
    return {
      path,
      message: `expected ${count(expected.length, 'item')}, got ${actual.length}: ${show(actual)}`,
    };
  }
  if (isObject(expected) && isObject(actual)) {
    for (const [name, value] of Object.entries(expected)) {
      if (!(name in actual))
        return { path: `${path}${key(name)}`, message: `expected ${show(value)}, got nothing` };
      const problem = deepDifference(`${path}${key(name)}`, value, actual[name]);
      if (problem) return problem;
    }
    for (const [name, value] of Object.entries(actual)) {
      if (!(name in expected))
        return { path: `${path}${key(name)}`, message: `not expected, got ${show(value)}` };
    }
    return undefined;
  }
  if (expected === actual) return undefined;
  return { path, message: `expected ${show(expected)}, got ${show(actual)}` };
}

// -- views: the expectation and the observation in one shape, for the line diff --------------------

function expectedView(expect: Expectation): Record<string, unknown> {
  switch (expect.kind) {
    case 'webhook':
      return { webhook: expect.requests };
    case 'publish':
      return { publish: expect.messages };
    case 'drop':
    case 'filtered':
      return { [expect.kind]: expect.reason ?? true };
    default:
      return { [expect.kind]: expect.reason };
  }
}

function actualView(expect: Expectation, observed: Observed): Record<string, unknown> {
  const { outcome } = observed;
  if (outcome.kind !== 'ack') {
    const key = outcomeKeys[outcome.kind];
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

const notJson = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return notJson;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function key(name: string): string {
  return /^[\w-]+$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * A line diff of the expected and the actual view as YAML: `-` lines only in what was expected,
 * `+` lines only in what happened.
 */
export function renderDiff(comparison: Comparison): string[] {
  const a = stringify(comparison.expected, { lineWidth: 0 }).trimEnd().split('\n');
  const b = stringify(comparison.actual, { lineWidth: 0 }).trimEnd().split('\n');
  return collapse(lineDiff(a, b));
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

function lineDiff(a: string[], b: string[]): string[] {
  if (a.length * b.length > 4_000_000) return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
  // Longest common subsequence, then walk it.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out;
}
