import type { Outcome } from '../delivery/outcome.js';
import {
  type Expectation,
  type Observed,
  outcomeKey,
  type PublishExpectation,
  type RecordedPublish,
  type RequestExpectation,
  schemaErrors,
} from './suite.js';
import { actualView, expectedView, notJson, parseJson } from './views.js';
import type { RecordedRequest } from './webhook.js';

/** Whether a route did what a case expected, and where it first did not. */
export interface Comparison {
  ok: boolean;
  /** The first difference: where (`webhook[0].body.amount`) and what. */
  first?: { path: string; message: string };
  /** The expectation, and what happened in the same shape (only the fields the case compares). */
  expected: Record<string, unknown>;
  actual: Record<string, unknown>;
}

export function compare(expect: Expectation, observed: Observed): Comparison {
  const expected = expectedView(expect);
  const actual = actualView(expect, observed);
  const first = firstProblem(expect, observed);
  return { ok: first === undefined, ...(first ? { first } : {}), expected, actual };
}

function firstProblem(expect: Expectation, observed: Observed): Comparison['first'] {
  const { outcome } = observed;
  const wanted = expect.kind === 'webhook' || expect.kind === 'publish' ? 'ack' : expect.kind;
  if (outcomeKey(outcome) !== wanted) {
    const got =
      outcome.kind === 'ack'
        ? `${describeSent(observed)} (ack)`
        : `${outcomeKey(outcome)}: ${outcome.reason}`;
    return { path: expect.kind, message: `expected ${describeExpected(expect)}, got ${got}` };
  }
  switch (expect.kind) {
    case 'webhook':
      return compareList('webhook', 'request', expect.requests, observed.requests, compareRequest);
    case 'publish':
      return compareList('publish', 'message', expect.messages, observed.published, comparePublish);
    case 'invalid':
      return compareInvalid(expect, outcome);
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

/** An `invalid` expectation: the reason, one error's pointer and message, and the schema. */
function compareInvalid(expect: Extract<Expectation, { kind: 'invalid' }>, outcome: Outcome): Problem {
  const reason = outcome.kind === 'ack' ? '' : outcome.reason;
  if (expect.reason !== undefined && !reason.includes(expect.reason)) {
    return {
      path: 'invalid',
      message: `expected a reason containing ${show(expect.reason)}, got ${show(reason)}`,
    };
  }
  const schema = outcome.kind === 'dead-letter' ? outcome.contract?.schema : undefined;
  if (expect.schema !== undefined && expect.schema !== schema) {
    return { path: 'invalid.schema', message: `expected ${show(expect.schema)}, got ${show(schema)}` };
  }
  if (expect.pointer === undefined && expect.message === undefined) return undefined;
  const errors = schemaErrors(reason);
  const found = errors.some(
    (e) =>
      (expect.pointer === undefined || e.pointer === expect.pointer) &&
      (expect.message === undefined || e.message.includes(expect.message)),
  );
  if (found) return undefined;
  const path = expect.pointer === undefined ? 'invalid.message' : 'invalid.pointer';
  return { path, message: `expected an error ${describeError(expect)}, got ${show(reason)}` };
}

function describeError(expect: { pointer?: string; message?: string }): string {
  const at =
    expect.pointer === undefined ? '' : `at ${show(expect.pointer === '' ? '(root)' : expect.pointer)}`;
  const says = expect.message === undefined ? '' : `containing ${show(expect.message)}`;
  return [at, says].filter(Boolean).join(' ');
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
