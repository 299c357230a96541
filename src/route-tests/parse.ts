import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isRouteFile, parseRouteFile, type RawDoc } from '../config/documents.js';
import { type ConfigIssue, issueAt } from '../config/issues.js';
import { positionOf } from '../config/positions.js';
import { defaultMaxFileBytes, readRegularFile } from '../config/read.js';
import { suggest } from '../config/suggest.js';
import { WarrenError } from '../errors.js';
import { schemaIssues } from './issues.js';
import type { TestDocument } from './schema.js';
import type {
  Expectation,
  PublishExpectation,
  RequestExpectation,
  RouteTargets,
  TestMessage,
  TestSuite,
} from './suite.js';

/**
 * Test files are read as route files are: the same YAML loader (duplicate keys, alias bombs and
 * nesting refused), the same size cap, a JSON Schema (`schema.ts`) and issues at `file:line:col`.
 * What the schema cannot know, the routes under test, is checked after it.
 */

type Parsed = { suites: TestSuite[]; issues: ConfigIssue[] };

/** `[DIR|FILE...]` → the test files, sorted per directory; a path that does not exist is a usage error. */
export async function listTestFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      throw new WarrenError('WARREN_E_USAGE', `no test file or directory ${path}`);
    }
    if (!isDir) {
      files.push(path);
      continue;
    }
    const entries = await readdir(path, { withFileTypes: true });
    files.push(
      ...entries
        .filter((e) => (e.isFile() || e.isSymbolicLink()) && isRouteFile(e.name))
        .map((e) => join(path, e.name))
        .sort(),
    );
  }
  return [...new Set(files)];
}

/** A file that cannot be read (a FIFO, a dangling link, over 4 MiB) is an issue at 1:1. */
export async function readTestFile(file: string, routes: RouteTargets): Promise<Parsed> {
  const read = await readRegularFile(file, { maxBytes: defaultMaxFileBytes });
  if ('error' in read) {
    return {
      suites: [],
      issues: [{ file, line: 1, col: 1, pointer: '', message: `test file ${read.error}` }],
    };
  }
  return parseTestFile(file, read.text, routes);
}

export function parseTestFile(file: string, text: string, routes: RouteTargets): Parsed {
  const parsed = parseRouteFile(file, text);
  const issues = [...parsed.issues];
  const suites: TestSuite[] = [];
  for (const raw of parsed.docs) {
    const data = toData(raw);
    if ('issue' in data) {
      issues.push(data.issue);
      continue;
    }
    const problems = [...schemaIssues(raw, data.value), ...routeIssues(raw, data.value, routes)];
    // No schema issue: the data is a TestDocument.
    if (problems.length === 0) suites.push(toSuite(raw, data.value as TestDocument));
    // In the order of the file; the sort is stable, so one place keeps the schema's order.
    issues.push(...problems.sort((a, b) => a.line - b.line || a.col - b.col));
  }
  if (parsed.docs.length === 0 && issues.length === 0) {
    issues.push({ file, line: 1, col: 1, pointer: '', message: 'empty test file: give `route` and `cases`' });
  }
  return { suites, issues };
}

/**
 * The document as plain data. The loader has checked its aliases (anchor before alias, no cycle,
 * expansion capped) as for route files, so the library's own cap of 100 uses per anchor is off.
 */
function toData(raw: RawDoc): { value: unknown } | { issue: ConfigIssue } {
  try {
    return { value: raw.doc.toJS({ maxAliasCount: -1 }) as unknown };
  } catch (err) {
    return { issue: issueAt(raw, '', `YAML: ${err instanceof Error ? err.message : String(err)}`) };
  }
}

/** The route is one of the routes directory, its target fits the expectation, case names are unique. */
function routeIssues(raw: RawDoc, data: unknown, routes: RouteTargets): ConfigIssue[] {
  if (!isObject(data)) return [];
  const issues: ConfigIssue[] = [];
  let target: string | undefined;
  if (typeof data.route === 'string') {
    target = routes.get(data.route);
    if (!target) {
      const hint = suggest(data.route, [...routes.keys()]);
      const near = hint ? ` (did you mean \`${hint}\`?)` : '';
      issues.push(issueAt(raw, '/route', `no route \`${data.route}\` in the routes directory${near}`));
    }
  }
  const names = new Set<string>();
  for (const [i, test] of (Array.isArray(data.cases) ? data.cases : []).entries()) {
    if (!isObject(test)) continue;
    if (typeof test.name === 'string') {
      if (names.has(test.name))
        issues.push(issueAt(raw, `/cases/${i}/name`, `two cases are named "${test.name}"`));
      names.add(test.name);
    }
    // With two expectations, "give exactly one" is said already.
    const kinds = isObject(test.expect) ? Object.keys(test.expect) : [];
    if (!target || kinds.length !== 1) continue;
    const at = `/cases/${i}/expect/${kinds[0]}`;
    if (kinds[0] === 'webhook' && target !== 'webhook')
      issues.push(
        issueAt(raw, at, `the route's target is ${target}: expect \`publish\`, not \`webhook\``, true),
      );
    if (kinds[0] === 'publish' && target === 'webhook')
      issues.push(issueAt(raw, at, "the route's target is a webhook: expect `webhook`, not `publish`", true));
  }
  return issues;
}

// -- a valid document → the suite, its defaults filled in ---------------------------------------

type Case = TestDocument['cases'][number];

function toSuite(raw: RawDoc, doc: TestDocument): TestSuite {
  const line = (pointer: string) => positionOf(raw, pointer, false).line;
  return {
    file: raw.file,
    line: line(''),
    route: doc.route,
    cases: doc.cases.map((test, i) => ({
      name: test.name,
      line: line(`/cases/${i}`),
      message: toMessage(test.message),
      expect: toExpectation(test.expect),
    })),
  };
}

function toMessage(given: Case['message']): TestMessage {
  const { headers = {}, routingKey = '', redelivered = false, attempt = 1, ...rest } = given ?? {};
  return { ...rest, headers, routingKey, redelivered, attempt };
}

function toExpectation(expect: Case['expect']): Expectation {
  if (expect.webhook) return { kind: 'webhook', requests: expect.webhook.map(toRequest) };
  if (expect.publish) return { kind: 'publish', messages: expect.publish.map(toPublish) };
  if (expect.drop !== undefined) return withReason('drop', expect.drop);
  if (expect.filtered !== undefined) return withReason('filtered', expect.filtered);
  if (expect.deadLetter !== undefined) return { kind: 'deadLetter', reason: expect.deadLetter };
  if (expect.invalid !== undefined) return toInvalid(expect.invalid);
  return { kind: 'retry', reason: expect.retry ?? '' };
}

function toInvalid(given: NonNullable<Case['expect']['invalid']>): Expectation {
  if (typeof given === 'boolean') return { kind: 'invalid' };
  if (typeof given === 'string') return { kind: 'invalid', reason: given };
  return {
    kind: 'invalid',
    ...(given.pointer !== undefined ? { pointer: given.pointer === '(root)' ? '' : given.pointer } : {}),
    ...(given.message !== undefined ? { message: given.message } : {}),
    ...(given.schema !== undefined ? { schema: given.schema } : {}),
  };
}

function withReason(kind: 'drop' | 'filtered', given: boolean | string): Expectation {
  return typeof given === 'string' ? { kind, reason: given } : { kind };
}

type Request = NonNullable<Case['expect']['webhook']>[number];

/** In the order the actual view shows them, so that the line diff pairs them up. */
function toRequest(given: Request): RequestExpectation {
  const request: RequestExpectation = {};
  if (given.url !== undefined) request.url = given.url;
  if (given.method !== undefined) request.method = given.method.toUpperCase();
  if (given.headers) {
    // Names compare case-insensitively and values as text, as HTTP carries them.
    request.headers = Object.fromEntries(
      Object.entries(given.headers).map(([name, v]) => [name.toLowerCase(), v === null ? null : String(v)]),
    );
  }
  if ('body' in given) request.body = given.body;
  return request;
}

function toPublish(given: NonNullable<Case['expect']['publish']>[number]): PublishExpectation {
  const message: PublishExpectation = {};
  if (given.exchange !== undefined) message.exchange = given.exchange;
  if (given.routingKey !== undefined) message.routingKey = given.routingKey;
  if (given.headers) message.headers = given.headers;
  if ('body' in given) message.body = given.body;
  return message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
