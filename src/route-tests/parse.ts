import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import { isRouteFile, parseRouteFile, type RawDoc } from '../config/documents.js';
import type { ConfigIssue } from '../config/issues.js';
import { suggest } from '../config/suggest.js';
import type { TargetSpec } from '../config/types.js';
import { WarrenError } from '../errors.js';

/**
 * Route test files (docs/plugins.md, "Testing routes"): YAML documents that each name a route and
 * give cases, a message in and one expected result out. Parsed by walking the YAML nodes, so every
 * problem points at its `file:line:col` the way route-file errors do.
 */

/** The message a case feeds to the route, as a publisher would have sent it. */
export interface TestMessage {
  /** Absent: an empty body. An object, array, number, boolean or null is sent as JSON. */
  body?: unknown;
  contentType?: string;
  headers: Record<string, unknown>;
  /** Default ''. */
  routingKey: string;
  /** Default: the exchange of the route's first binding ('' without bindings). */
  exchange?: string;
  messageId?: string;
  redelivered: boolean;
  /** 1 for a first delivery; more for a retry copy (carried as `x-warren-attempt`). */
  attempt: number;
}

/** One request the webhook target would send. Absent fields are not compared. */
export interface RequestExpectation {
  url?: string;
  method?: string;
  /** Subset, names case-insensitive; null: the header must be absent. */
  headers?: Record<string, string | null>;
  /** Present (even null): JSON deep-equal for a non-string, exact text for a string. */
  body?: unknown;
}

/** One message republish or a plugin target would publish. Absent fields are not compared. */
export interface PublishExpectation {
  exchange?: string;
  routingKey?: string;
  /** Subset, values deep-equal; null: the header must be absent. */
  headers?: Record<string, unknown>;
  body?: unknown;
}

export type Expectation =
  | { kind: 'webhook'; requests: RequestExpectation[] }
  | { kind: 'publish'; messages: PublishExpectation[] }
  /** `reason` absent: any reason. Otherwise a substring of the outcome's reason. */
  | { kind: 'drop'; reason?: string }
  /** The route's `when` filter turned it away; `reason` as for drop. */
  | { kind: 'filtered'; reason?: string }
  | { kind: 'deadLetter'; reason: string }
  | { kind: 'retry'; reason: string };

export interface TestCase {
  name: string;
  line: number;
  message: TestMessage;
  expect: Expectation;
}

export interface TestSuite {
  file: string;
  line: number;
  route: string;
  cases: TestCase[];
}

/** What the parser needs to know about the routes under test. */
export type RouteTargets = ReadonlyMap<string, TargetSpec['kind']>;

export const expectationKinds = ['webhook', 'publish', 'drop', 'filtered', 'deadLetter', 'retry'] as const;
const suiteKeys = ['route', 'cases'];
const caseKeys = ['name', 'message', 'expect'];
const messageKeys = [
  'body',
  'contentType',
  'headers',
  'routingKey',
  'exchange',
  'messageId',
  'redelivered',
  'attempt',
];
const requestKeys = ['url', 'method', 'headers', 'body'];
const publishKeys = ['exchange', 'routingKey', 'headers', 'body'];
const methods = ['POST', 'PUT', 'PATCH'];

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

export async function readTestFile(
  file: string,
  routes: RouteTargets,
): Promise<{ suites: TestSuite[]; issues: ConfigIssue[] }> {
  return parseTestFile(file, await readFile(file, 'utf8'), routes);
}

export function parseTestFile(
  file: string,
  text: string,
  routes: RouteTargets,
): { suites: TestSuite[]; issues: ConfigIssue[] } {
  const parsed = parseRouteFile(file, text);
  const issues = [...parsed.issues];
  const suites: TestSuite[] = [];
  for (const raw of parsed.docs) {
    const suite = new Reader(raw, issues, routes).suite();
    if (suite) suites.push(suite);
  }
  if (parsed.docs.length === 0 && issues.length === 0) {
    issues.push({ file, line: 1, col: 1, pointer: '', message: 'empty test file: give `route` and `cases`' });
  }
  return { suites, issues };
}

type Entry = { key: string; keyNode: Node; value: Node | null };

/** Reads one document; every problem becomes an issue and the document yields no suite. */
class Reader {
  readonly #raw: RawDoc;
  readonly #issues: ConfigIssue[];
  readonly #routes: RouteTargets;
  #failed = false;

  constructor(raw: RawDoc, issues: ConfigIssue[], routes: RouteTargets) {
    this.#raw = raw;
    this.#issues = issues;
    this.#routes = routes;
  }

  suite(): TestSuite | undefined {
    const root = this.#raw.doc.contents as Node | null;
    const entries = this.#map(root, '', 'a test file', suiteKeys);
    if (!entries) return undefined;
    const route = this.#string(entries.get('route'), '/route', 'route', root);
    const target = route === undefined ? undefined : this.#route(route, entries.get('route')!);
    const casesEntry = entries.get('cases');
    const cases: TestCase[] = [];
    if (!casesEntry) this.#error(root, '', 'a test file needs `cases`: a list of cases');
    else {
      const items = this.#seq(casesEntry.value ?? casesEntry.keyNode, '/cases', 'cases');
      if (items?.length === 0) this.#error(casesEntry.keyNode, '/cases', '`cases` is empty');
      const names = new Set<string>();
      for (const [i, item] of (items ?? []).entries()) {
        const test = this.#case(item, `/cases/${i}`, target, names);
        if (test) cases.push(test);
      }
    }
    if (this.#failed || route === undefined) return undefined;
    return { file: this.#raw.file, line: this.#pos(root).line, route, cases };
  }

  #route(name: string, entry: Entry): TargetSpec['kind'] | undefined {
    const kind = this.#routes.get(name);
    if (kind) return kind;
    const hint = suggest(name, [...this.#routes.keys()]);
    this.#error(
      entry.value,
      '/route',
      `no route \`${name}\` in the routes directory${hint ? ` (did you mean \`${hint}\`?)` : ''}`,
    );
    return undefined;
  }

  #case(
    node: Node,
    pointer: string,
    target: TargetSpec['kind'] | undefined,
    names: Set<string>,
  ): TestCase | undefined {
    const entries = this.#map(node, pointer, 'a case', caseKeys);
    if (!entries) return undefined;
    const name = this.#string(entries.get('name'), `${pointer}/name`, 'name', node);
    if (name !== undefined && names.has(name))
      this.#error(entries.get('name')!.value, `${pointer}/name`, `two cases are named "${name}"`);
    if (name !== undefined) names.add(name);
    const messageEntry = entries.get('message');
    const message = messageEntry
      ? this.#message(messageEntry.value ?? messageEntry.keyNode, `${pointer}/message`)
      : { headers: {}, routingKey: '', redelivered: false, attempt: 1 };
    const expectEntry = entries.get('expect');
    let expect: Expectation | undefined;
    if (!expectEntry)
      this.#error(node, pointer, `a case needs \`expect\` with one of ${expectationKinds.join(', ')}`);
    else expect = this.#expect(expectEntry.value ?? expectEntry.keyNode, `${pointer}/expect`, target);
    if (name === undefined || !message || !expect) return undefined;
    return { name, line: this.#pos(node).line, message, expect };
  }

  #message(node: Node, pointer: string): TestMessage | undefined {
    const entries = this.#map(node, pointer, '`message`', messageKeys);
    if (!entries) return undefined;
    const message: TestMessage = { headers: {}, routingKey: '', redelivered: false, attempt: 1 };
    for (const [key, entry] of entries) {
      const at = `${pointer}/${key}`;
      switch (key) {
        case 'body':
          message.body = this.#js(entry.value);
          break;
        case 'headers': {
          const headers = this.#js(entry.value);
          if (!isPlainObject(headers)) this.#error(entry.value, at, '`headers` must be a map');
          else message.headers = headers;
          break;
        }
        case 'contentType':
        case 'routingKey':
        case 'exchange':
        case 'messageId': {
          const text = this.#string(entry, at, key, node);
          if (text !== undefined) message[key] = text;
          break;
        }
        case 'redelivered': {
          const value = this.#js(entry.value);
          if (typeof value !== 'boolean') this.#error(entry.value, at, '`redelivered` must be true or false');
          else message.redelivered = value;
          break;
        }
        case 'attempt': {
          const value = this.#js(entry.value);
          if (!Number.isInteger(value) || (value as number) < 1)
            this.#error(entry.value, at, '`attempt` must be an integer of at least 1');
          else message.attempt = value as number;
          break;
        }
      }
    }
    return message;
  }

  #expect(node: Node, pointer: string, target: TargetSpec['kind'] | undefined): Expectation | undefined {
    const entries = this.#map(node, pointer, '`expect`', expectationKinds);
    if (!entries) return undefined;
    const given = [...entries.values()];
    if (given.length === 0) {
      this.#error(node, pointer, `\`expect\` needs one of ${expectationKinds.join(', ')}`);
      return undefined;
    }
    if (given.length > 1) {
      this.#error(
        given[1]!.keyNode,
        `${pointer}/${given[1]!.key}`,
        `\`expect\` has both \`${given[0]!.key}\` and \`${given[1]!.key}\`: give exactly one`,
      );
      return undefined;
    }
    const { key, keyNode, value } = given[0]!;
    const at = `${pointer}/${key}`;
    switch (key) {
      case 'webhook': {
        if (target && target !== 'webhook') {
          this.#error(keyNode, at, `the route's target is ${target}: expect \`publish\`, not \`webhook\``);
          return undefined;
        }
        const items = this.#seq(value ?? keyNode, at, 'webhook');
        const requests = items?.map((item, i) => this.#request(item, `${at}/${i}`));
        if (!requests || requests.some((r) => r === undefined)) return undefined;
        return { kind: 'webhook', requests: requests as RequestExpectation[] };
      }
      case 'publish': {
        if (target === 'webhook') {
          this.#error(keyNode, at, "the route's target is a webhook: expect `webhook`, not `publish`");
          return undefined;
        }
        const items = this.#seq(value ?? keyNode, at, 'publish');
        const messages = items?.map((item, i) => this.#published(item, `${at}/${i}`));
        if (!messages || messages.some((m) => m === undefined)) return undefined;
        return { kind: 'publish', messages: messages as PublishExpectation[] };
      }
      case 'drop':
      case 'filtered': {
        const reason = this.#js(value);
        if (reason === true) return { kind: key };
        if (typeof reason === 'string' && reason !== '') return { kind: key, reason };
        this.#error(
          value ?? keyNode,
          at,
          `\`${key}\` is true or a text the ${key === 'drop' ? 'drop' : 'filter'} reason contains`,
        );
        return undefined;
      }
      default: {
        const reason = this.#js(value);
        if (typeof reason === 'string' && reason !== '')
          return { kind: key as 'deadLetter' | 'retry', reason };
        this.#error(value ?? keyNode, at, `\`${key}\` is a text the ${key} reason contains`);
        return undefined;
      }
    }
  }

  #request(node: Node, pointer: string): RequestExpectation | undefined {
    const entries = this.#map(node, pointer, 'a webhook request', requestKeys);
    if (!entries) return undefined;
    const request: RequestExpectation = {};
    const url = entries.get('url');
    if (url) request.url = this.#string(url, `${pointer}/url`, 'url', node);
    const method = entries.get('method');
    if (method) {
      const text = this.#string(method, `${pointer}/method`, 'method', node);
      if (text !== undefined && !methods.includes(text.toUpperCase()))
        this.#error(method.value, `${pointer}/method`, `\`method\` is one of ${methods.join(', ')}`);
      else if (text !== undefined) request.method = text.toUpperCase();
    }
    const headers = entries.get('headers');
    if (headers) {
      const value = this.#js(headers.value);
      const at = `${pointer}/headers`;
      if (!isPlainObject(value)) this.#error(headers.value ?? headers.keyNode, at, '`headers` must be a map');
      else {
        request.headers = {};
        for (const [name, v] of Object.entries(value)) {
          if (v !== null && typeof v === 'object')
            this.#error(
              headers.value,
              `${at}/${name}`,
              `header \`${name}\` must be a text, a number or null`,
            );
          else request.headers[name.toLowerCase()] = v === null ? null : String(v);
        }
      }
    }
    const body = entries.get('body');
    if (body) request.body = this.#js(body.value);
    return request;
  }

  #published(node: Node, pointer: string): PublishExpectation | undefined {
    const entries = this.#map(node, pointer, 'a published message', publishKeys);
    if (!entries) return undefined;
    const message: PublishExpectation = {};
    for (const key of ['exchange', 'routingKey'] as const) {
      const entry = entries.get(key);
      if (entry) message[key] = this.#string(entry, `${pointer}/${key}`, key, node);
    }
    const headers = entries.get('headers');
    if (headers) {
      const value = this.#js(headers.value);
      if (!isPlainObject(value))
        this.#error(headers.value ?? headers.keyNode, `${pointer}/headers`, '`headers` must be a map');
      else message.headers = value;
    }
    const body = entries.get('body');
    if (body) message.body = this.#js(body.value);
    return message;
  }

  // -- node helpers ----------------------------------------------------------------------------

  #deref(node: Node | null | undefined): Node | null {
    if (node && isAlias(node)) return (node.resolve(this.#raw.doc) as Node | undefined) ?? null;
    return node ?? null;
  }

  #js(node: Node | null): unknown {
    if (!node) return null;
    return node.toJS(this.#raw.doc);
  }

  /** The entries of a map, in order; unknown keys and a non-map are issues. */
  #map(
    raw: Node | null,
    pointer: string,
    what: string,
    known: readonly string[],
  ): Map<string, Entry> | undefined {
    const node = this.#deref(raw);
    if (!node || !isMap(node)) {
      this.#error(raw, pointer, `${what} must be a map`);
      return undefined;
    }
    const entries = new Map<string, Entry>();
    for (const pair of (node as YAMLMap<unknown, unknown>).items as Pair<Node, Node | null>[]) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      if (!known.includes(key)) {
        const hint = suggest(key, known);
        this.#error(
          keyNode,
          `${pointer}/${key}`,
          `unknown key \`${key}\` in ${what}${hint ? ` (did you mean \`${hint}\`?)` : ''}; known: ${known.join(', ')}`,
        );
        continue;
      }
      entries.set(key, { key, keyNode, value: this.#deref(pair.value) });
    }
    return entries;
  }

  #seq(raw: Node, pointer: string, what: string): Node[] | undefined {
    const node = this.#deref(raw);
    if (!node || !isSeq(node)) {
      this.#error(raw, pointer, `\`${what}\` must be a list`);
      return undefined;
    }
    return node.items.map((item) => this.#deref(item as Node) ?? (item as Node));
  }

  #string(entry: Entry | undefined, pointer: string, key: string, parent: Node | null): string | undefined {
    if (!entry) {
      this.#error(parent, pointer, `\`${key}\` is required`);
      return undefined;
    }
    const value = entry.value && isScalar(entry.value) ? entry.value.value : undefined;
    if (typeof value !== 'string') {
      this.#error(entry.value ?? entry.keyNode, pointer, `\`${key}\` must be a text (quote it)`);
      return undefined;
    }
    return value;
  }

  #pos(node: Node | null | undefined): { line: number; col: number } {
    const offset = node?.range?.[0] ?? 0;
    return this.#raw.lineCounter.linePos(offset);
  }

  #error(node: Node | null | undefined, pointer: string, message: string): void {
    this.#failed = true;
    const { line, col } = this.#pos(node);
    this.#issues.push({ file: this.#raw.file, line, col, pointer, message });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
