import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ErrorCode } from '../errors.js';
import { normalizePluginRef, type RawPluginRef, resolvePluginRef } from '../plugins/ref.js';
import { targets } from '../targets/registry.js';
import type { TargetModule } from '../targets/types.js';
import { expandStatuses } from '../targets/webhook-schema.js';
import { defaultDeadLetterQueue, derivedQueueNames } from '../topology/plan.js';
import { type LoadedFiles, type LoadOptions, loadRouteFiles, type RawDoc } from './documents.js';
import { isDuration, parseDuration } from './duration.js';
import { interpolateDocs } from './interpolate.js';
import type { ConfigIssue } from './issues.js';
import { addWarrenKeywords, MAX_NAME_BYTES, warrenKeywords } from './keywords.js';
import { positionOf } from './positions.js';
import { redactIssues } from './redact.js';
import { routesSchema } from './schema.js';
import { parseSize } from './size.js';
import { suggest } from './suggest.js';
import {
  type ArgValue,
  type Binding,
  type Config,
  defaults,
  type ExchangeSpec,
  type Filter,
  type Origin,
  type PluginRef,
  type QueueSpec,
  type RateLimit,
  type RouteSpec,
  type TargetSpec,
} from './types.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
addFormats(ajv);
ajv.addFormat('duration', { type: 'string', validate: (s: string) => isDuration(s) });
addWarrenKeywords(ajv);
const validateDocument = ajv.compile(routesSchema);

/** A route's reference to a plugin, resolved and read: `warren validate` compiles each one. */
export interface PluginUse {
  ref: PluginRef;
  source: string;
  /** Where the route file names the plugin. */
  at: Omit<ConfigIssue, 'message'>;
}

export type ValidationResult =
  | { ok: true; config: Config; pluginUses?: PluginUse[] }
  | {
      ok: false;
      issues: ConfigIssue[] /** hash of the files, as `config.version` would be */;
      version: string;
      /** Read by `warren validate`, which compiles every plugin a route names. */
      pluginUses?: PluginUse[];
    };

/** load → interpolate → validate → normalise, for a routes directory. Never throws. */
export async function loadConfig(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
  pluginsDir = './plugins',
  options: LoadOptions = {},
): Promise<ValidationResult> {
  return validateLoaded(await loadRouteFiles(dir, options), env, pluginsDir);
}

export function validateLoaded(
  loaded: LoadedFiles,
  env: NodeJS.ProcessEnv = process.env,
  pluginsDir = './plugins',
): ValidationResult {
  const issues = [...loaded.issues];
  const interpolation = interpolateDocs(loaded.docs, env);
  for (const issue of interpolation.issues) issues.push(issue);
  // A reference that failed leaves '' behind; the schema errors that causes would repeat the issue.
  const unresolved = new Set(interpolation.issues.map((i) => `${i.file}\0${i.pointer}`));
  // Every document goes on to the checks that span documents, broken or not: a schema error only
  // skips the checks whose own input it breaks, so one run reports every mistake (docs/errors.md).
  const checked: CheckedDoc[] = [];
  for (const raw of loaded.docs) {
    const data = toData(raw, issues);
    if (data === undefined) continue;
    const errors = validateDocument(data) ? [] : (validateDocument.errors ?? []);
    const schemaIssues = toIssues(raw, errors);
    for (const issue of schemaIssues) {
      if (!unresolved.has(`${issue.file}\0${issue.pointer}`)) issues.push(issue);
    }
    checked.push({ raw, data, broken: brokenBy(errors) });
  }
  const built = buildConfig(checked, pluginsDir);
  for (const issue of built.issues) issues.push(issue);
  const { pluginUses } = built;
  if (issues.length > 0) {
    // An issue names the place, never a value an interpolation produced.
    const shown = redactIssues(sortIssues(issues), interpolation.secrets);
    return { ok: false, issues: shown, version: loaded.version, pluginUses };
  }
  return {
    ok: true,
    config: {
      ...built.config,
      secrets: [...new Set([...interpolation.secrets, ...built.secrets])],
      version: loaded.version,
    },
    pluginUses,
  };
}

/**
 * The document as plain data. Aliases were checked when loading (anchor before alias, no cycle,
 * expansion capped), so the library's own alias cap, which refuses an anchor used more than 100
 * times, is off; anything the conversion still throws is an issue at the document's start.
 */
function toData(raw: RawDoc, issues: ConfigIssue[]): unknown {
  try {
    return raw.doc.toJS({ maxAliasCount: -1 }) as unknown;
  } catch (err) {
    const pos = positionOf(raw, '', false);
    const message = err instanceof Error ? err.message : String(err);
    issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer: '', message: `YAML: ${message}` });
    return undefined;
  }
}

/** `file:line:col message (at /pointer)`: the one-line form used by the CLI and the log. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.pointer ? ` (at ${issue.pointer})` : '';
  return `${issue.file}:${issue.line}:${issue.col} ${issue.message}${where}`;
}

/** An issue as `--format json` prints it: always with the code docs/errors.md documents. */
export function issueJson(issue: ConfigIssue & { code?: ErrorCode }): {
  code: ErrorCode;
  file: string;
  line: number;
  col: number;
  pointer: string;
  message: string;
} {
  return {
    code: issue.code ?? 'WARREN_E_CONFIG_INVALID',
    file: issue.file,
    line: issue.line,
    col: issue.col,
    pointer: issue.pointer,
    message: issue.message,
  };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

// ---------------------------------------------------------------------------------------------
// Schema errors → positioned issues

function toIssues(raw: RawDoc, errors: ErrorObject[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  // anyOf reports each branch too. For a duration keep only the anyOf's own message; otherwise
  // (string-or-object) keep what the object branch said (unknown key, …), without the type noise.
  const anyOf = errors.filter((e) => e.keyword === 'anyOf');
  const durationPaths = new Set(
    anyOf.filter((e) => isDurationSchema(e.parentSchema)).map((e) => e.instancePath),
  );
  const otherPaths = new Set(
    anyOf.filter((e) => !isDurationSchema(e.parentSchema)).map((e) => e.instancePath),
  );
  // A branch's own error, at the value or inside it (a bad `timeout` inside `{ file, timeout }`).
  const detailed = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && e.keyword !== 'type' && e.keyword !== 'const') {
      addWithAncestors(detailed, e.instancePath);
    }
  }
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && durationPaths.has(error.instancePath)) continue;
    // The branch that does not apply (`false` of `circuit: false | {…}`, the string of `file | {…}`).
    if ((error.keyword === 'type' || error.keyword === 'const') && otherPaths.has(error.instancePath)) {
      continue;
    }
    if (
      error.keyword === 'anyOf' &&
      !durationPaths.has(error.instancePath) &&
      detailed.has(error.instancePath)
    ) {
      continue;
    }
    const { pointer, message, atKey } = describe(error);
    const key = `${pointer}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const pos = position(raw, pointer, atKey);
    issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer, message });
  }
  return issues;
}

/** Keywords that leave the value's own keys checkable: a missing or unknown sibling key. */
const softKeywords = new Set([
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'amqpKeys',
]);

/**
 * Whether the schema errors break the value at a pointer: an error at it or inside it, or one above
 * it that makes the parent something else than the object the pointer walks through.
 */
function brokenBy(errors: ErrorObject[]): (pointer: string) => boolean {
  // Indexed once, so each check costs the depth of its pointer, not the number of errors: a file
  // with thousands of mistakes stays linear.
  const touched = new Set<string>(); // every error's pointer and all its ancestors
  const hard = new Set<string>();
  for (const error of errors) {
    const { pointer } = describe(error);
    if (!softKeywords.has(error.keyword)) hard.add(pointer);
    addWithAncestors(touched, pointer);
  }
  return (pointer) => {
    if (touched.has(pointer)) return true;
    for (let p = pointer; p !== ''; ) {
      p = parentPointer(p);
      if (hard.has(p)) return true;
    }
    return false;
  };
}

function parentPointer(pointer: string): string {
  return pointer.slice(0, Math.max(0, pointer.lastIndexOf('/')));
}

function addWithAncestors(set: Set<string>, pointer: string): void {
  for (let p = pointer; !set.has(p); p = parentPointer(p)) {
    set.add(p);
    if (p === '') break;
  }
}

function describe(error: ErrorObject): { pointer: string; message: string; atKey: boolean } {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;
  if (warrenKeywords.has(error.keyword)) {
    return { pointer: path, message: error.message ?? 'invalid', atKey: params.atKey === true };
  }
  switch (error.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
      const near = suggest(key, allowed);
      const hint = near
        ? `; did you mean \`${near}\`?`
        : allowed.length
          ? ` (expected one of: ${allowed.join(', ')})`
          : '';
      return {
        pointer: `${path}/${escapePointer(key)}`,
        message: `unknown key \`${key}\`${hint}`,
        atKey: true,
      };
    }
    case 'required':
      return {
        pointer: path,
        message: `missing required key \`${String(params.missingProperty)}\``,
        atKey: false,
      };
    case 'enum':
      return {
        pointer: path,
        message: `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`,
        atKey: false,
      };
    case 'anyOf':
      if (isDurationSchema(error.parentSchema)) {
        return {
          pointer: path,
          message: 'must be a duration such as 250ms, 10s, 2m, 1h or integer milliseconds',
          atKey: false,
        };
      }
      if (isStatusSchema(error.parentSchema)) {
        return { pointer: path, message: statusMessage, atKey: false };
      }
      return { pointer: path, message: 'does not match any allowed form', atKey: false };
    case 'minProperties':
    case 'maxProperties':
      if (path.endsWith('/to')) {
        return {
          pointer: path,
          message: `needs exactly one target: ${targets.map((t) => t.kind).join(', ')}`,
          atKey: false,
        };
      }
      return { pointer: path, message: error.message ?? 'invalid', atKey: false };
    case 'type':
      return { pointer: path, message: `must be ${[params.type].flat().join(' or ')}`, atKey: false };
    case 'pattern': {
      if (params.pattern === statusClassPattern) {
        return { pointer: path, message: statusMessage, atKey: false };
      }
      // A pattern means little to a reader: the schema's description says what is expected.
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      const expected = description
        ? `must be ${description[0]!.toLowerCase()}${description.slice(1).replace(/\.$/, '')}`
        : error.message;
      return { pointer: path, message: expected ?? 'invalid', atKey: false };
    }
    case 'format':
      return { pointer: path, message: `${error.message ?? 'invalid'}`, atKey: false };
    default:
      return { pointer: path, message: error.message ?? `fails ${error.keyword}`, atKey: false };
  }
}

const statusClassPattern = '^[345]xx$';
const statusMessage = 'must be a status from 300 to 599, or 3xx, 4xx or 5xx';

function isStatusSchema(schema: unknown): boolean {
  const branches = (schema as { anyOf?: Array<{ pattern?: string }> })?.anyOf ?? [];
  return branches.some((b) => b.pattern === statusClassPattern);
}

function isDurationSchema(schema: unknown): boolean {
  const branches = (schema as { anyOf?: Array<{ format?: string }> })?.anyOf ?? [];
  return branches.some((b) => b.format === 'duration');
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Line and column of the value (or, for an unknown key, the key) a JSON pointer names. */
function position(raw: RawDoc, pointer: string, atKey: boolean): { line: number; col: number } {
  return positionOf(raw, pointer, atKey);
}

function originOf(raw: RawDoc, pointer: string): Origin {
  const pos = position(raw, pointer, true);
  return { file: raw.file, line: pos.line, col: pos.col };
}

// ---------------------------------------------------------------------------------------------
// Normalisation and checks that span documents

interface RawBinding {
  exchange: string;
  key?: string;
  headers?: Record<string, ArgValue>;
}
interface RawDocument {
  exchanges?: Record<
    string,
    {
      type: ExchangeSpec['type'];
      durable?: boolean;
      autoDelete?: boolean;
      internal?: boolean;
      alternateExchange?: string;
      arguments?: Record<string, ArgValue>;
      bind?: RawBinding[];
    }
  >;
  queues?: Record<
    string,
    { type?: QueueSpec['type']; arguments?: Record<string, ArgValue>; bind?: RawBinding[] }
  >;
  routes?: Record<
    string,
    {
      from: { queue: string; bind?: RawBinding[] };
      prefetch?: number;
      concurrency?: number;
      when?: RawFilter;
      rateLimit?: { rate: number; per?: string | number; burst?: number };
      maxInFlightBytes?: string | number;
      transform?: RawPluginRef;
      deliveryLimit?: number;
      to: Record<string, Record<string, unknown>>;
      retry?: { attempts?: number; backoff?: Array<string | number> };
      deadLetter?: { queue?: string };
    }
  >;
}

interface RawFilter {
  routingKey?: string | string[];
  headers?: Record<string, ArgValue | ArgValue[] | { exists: boolean }>;
}

function toFilter(raw: RawFilter): Filter {
  const headers: Filter['headers'] = {};
  for (const [name, condition] of Object.entries(raw.headers ?? {})) {
    if (Array.isArray(condition)) headers[name] = { oneOf: condition };
    else if (typeof condition === 'object') headers[name] = { exists: condition.exists };
    else headers[name] = { oneOf: [condition] };
  }
  const filter: Filter = { headers };
  if (raw.routingKey !== undefined) {
    filter.routingKey = Array.isArray(raw.routingKey) ? raw.routingKey : [raw.routingKey];
  }
  return filter;
}

function toBindings(list: RawBinding[] | undefined): Binding[] {
  return (list ?? []).map((b) => ({
    exchange: b.exchange,
    key: b.key ?? '',
    ...(b.headers ? { headers: { 'x-match': 'all', ...b.headers } } : {}),
  }));
}

interface CheckedDoc {
  raw: RawDoc;
  /** The document as data: schema-valid only where `broken` says so. */
  data: unknown;
  broken: (pointer: string) => boolean;
}

type RawRoute = NonNullable<RawDocument['routes']>[string];

function entriesOf(value: unknown): Array<[string, unknown]> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : [];
}

function buildConfig(
  docs: CheckedDoc[],
  pluginsDir: string,
): {
  config: Omit<Config, 'secrets' | 'version'>;
  issues: ConfigIssue[];
  /** Signing keys written in the files themselves: redacted like interpolated values. */
  secrets: string[];
  pluginUses: PluginUse[];
} {
  const secrets: string[] = [];
  const issues: ConfigIssue[] = [];
  const exchanges: ExchangeSpec[] = [];
  const queues: QueueSpec[] = [];
  const routes: RouteSpec[] = [];
  const defined = new Map<string, Origin>();
  const plugins: Record<string, string> = {};
  const pluginUses: PluginUse[] = [];
  /** Queues consumed, for one route per queue: from every route whose `from.queue` is readable. */
  const consumers: Array<{ route: string; queue: string; origin: Origin; pointer: string }> = [];
  /** The plugin ref resolved inside the plugins directory, or an issue at its pointer. */
  const plugin = (raw: RawDoc, pointer: string, ref: PluginRef): PluginRef | undefined => {
    const pos = position(raw, pointer, false);
    const resolved = resolvePluginRef(ref, pluginsDir);
    if ('error' in resolved) {
      issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer, message: resolved.error });
      return undefined;
    }
    plugins[resolved.ref.file] = resolved.source;
    pluginUses.push({
      ref: resolved.ref,
      source: resolved.source,
      at: { file: raw.file, line: pos.line, col: pos.col, pointer },
    });
    return resolved.ref;
  };

  const claim = (kind: string, name: string, raw: RawDoc, pointer: string): Origin | undefined => {
    const origin = originOf(raw, pointer);
    const first = defined.get(`${kind}\0${name}`);
    if (first) {
      issues.push({
        file: raw.file,
        line: origin.line,
        col: origin.col,
        pointer,
        message: `${kind} \`${name}\` is defined twice: ${first.file}:${first.line} and ${origin.file}:${origin.line}`,
      });
      return undefined;
    }
    defined.set(`${kind}\0${name}`, origin);
    return origin;
  };

  for (const { raw, data, broken } of docs) {
    const doc = data as RawDocument;
    for (const [name, value] of entriesOf(doc?.exchanges)) {
      const pointer = `/exchanges/${escapePointer(name)}`;
      const origin = claim('exchange', name, raw, pointer);
      if (!origin || broken(pointer)) continue;
      const x = value as NonNullable<RawDocument['exchanges']>[string];
      exchanges.push({
        name,
        type: x.type,
        durable: x.durable ?? true,
        autoDelete: x.autoDelete ?? false,
        internal: x.internal ?? false,
        ...(x.alternateExchange ? { alternateExchange: x.alternateExchange } : {}),
        arguments: x.arguments ?? {},
        bind: toBindings(x.bind),
        origin,
      });
    }
    for (const [name, value] of entriesOf(doc?.queues)) {
      const pointer = `/queues/${escapePointer(name)}`;
      const origin = claim('queue', name, raw, pointer);
      if (!origin || broken(pointer)) continue;
      const q = value as NonNullable<RawDocument['queues']>[string];
      queues.push({
        name,
        type: q.type ?? defaults.queueType,
        arguments: q.arguments ?? {},
        bind: toBindings(q.bind),
        origin,
      });
    }
    for (const [name, value] of entriesOf(doc?.routes)) {
      const pointer = `/routes/${escapePointer(name)}`;
      const origin = claim('route', name, raw, pointer);
      if (!origin || value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      const r = value as RawRoute;
      /** The part of the route at `sub` is schema-valid, so a check that reads only it can run. */
      const ok = (sub: string): boolean => !broken(`${pointer}${sub}`);
      let fine = ok('');
      const at = (sub: string, message: string): void => {
        const pos = position(raw, `${pointer}${sub}`, false);
        issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer: `${pointer}${sub}`, message });
        fine = false;
      };
      const queue = ok('/from/queue') && typeof r.from?.queue === 'string' ? r.from.queue : undefined;
      if (queue !== undefined) consumers.push({ route: name, queue, origin, pointer });

      const to = r.to as Record<string, Record<string, unknown>> | undefined;
      const webhook = to?.webhook;
      if (webhook && ok('/to/webhook/retryOn') && ok('/to/webhook/deadLetterOn')) {
        const retryOn = expandStatuses(webhook.retryOn as Array<number | string> | undefined);
        const deadLetterOn = expandStatuses(webhook.deadLetterOn as Array<number | string> | undefined);
        const both = retryOn.filter((status) => deadLetterOn.includes(status));
        if (both.length > 0) {
          at('/to/webhook/deadLetterOn', `status ${both.join(', ')} is in both retryOn and deadLetterOn`);
        }
      }
      const republish = to?.republish;
      if (republish && ok('/to/republish/routingKey') && typeof republish.routingKey === 'string') {
        const literal = Buffer.byteLength(republish.routingKey.replaceAll('{{routingKey}}', ''), 'utf8');
        if (literal > MAX_NAME_BYTES) {
          at(
            '/to/republish/routingKey',
            `routing key is at least ${literal} bytes long in UTF-8; RabbitMQ allows at most ${MAX_NAME_BYTES}`,
          );
        }
      }
      if (queue !== undefined && ok('/retry') && ok('/deadLetter')) {
        const tooLong = longestDerivedName(queue, r);
        if (tooLong) at('/from/queue', tooLong);
      }

      let targetPlugin: PluginRef | undefined;
      if (to?.plugin && ok('/to/plugin')) {
        const ref = normalizePluginRef(to.plugin as unknown as RawPluginRef);
        targetPlugin = plugin(raw, `${pointer}/to/plugin/file`, ref);
        if (!targetPlugin) fine = false;
      }
      let transform: PluginRef | undefined;
      if (r.transform !== undefined && ok('/transform')) {
        transform = plugin(
          raw,
          typeof r.transform === 'string' ? `${pointer}/transform` : `${pointer}/transform/file`,
          normalizePluginRef(r.transform),
        );
        if (!transform) fine = false;
      }
      const maxInFlightBytes =
        r.maxInFlightBytes === undefined || !ok('/maxInFlightBytes')
          ? defaults.maxInFlightBytes
          : parseSize(r.maxInFlightBytes);
      if (!Number.isSafeInteger(maxInFlightBytes)) {
        at('/maxInFlightBytes', `maxInFlightBytes must be at most ${Number.MAX_SAFE_INTEGER} bytes`);
      }
      if (!fine || queue === undefined) continue;

      // Schema-valid and every check passed: the route as the runtime takes it.
      const prefetch = r.prefetch ?? defaults.prefetch;
      const backoff = r.retry?.backoff?.map(parseDuration) ?? [...defaults.retry.backoffMs];
      let target = normalizeTarget(r.to);
      if (target.kind === 'plugin' && targetPlugin) target = { kind: 'plugin', plugin: targetPlugin };
      if (target.kind === 'webhook') secrets.push(...(target.sign?.secrets ?? []));
      const rateLimit: RateLimit | undefined = r.rateLimit
        ? {
            rate: r.rateLimit.rate,
            perMs: r.rateLimit.per === undefined ? 1_000 : parseDuration(r.rateLimit.per),
            burst: r.rateLimit.burst ?? r.rateLimit.rate,
          }
        : undefined;
      routes.push({
        name,
        queue,
        bind: toBindings(r.from.bind),
        prefetch,
        concurrency: Math.min(r.concurrency ?? prefetch, prefetch),
        deliveryLimit: r.deliveryLimit ?? defaults.deliveryLimit,
        ...(r.when ? { when: toFilter(r.when) } : {}),
        ...(rateLimit ? { rateLimit } : {}),
        maxInFlightBytes,
        ...(transform ? { transform } : {}),
        target,
        retry: { attempts: r.retry?.attempts ?? defaults.retry.attempts, backoffMs: backoff },
        deadLetterQueue: r.deadLetter?.queue ?? defaultDeadLetterQueue(queue),
        origin,
      });
    }
  }

  const byQueue = new Map<string, (typeof consumers)[number]>();
  for (const consumer of consumers) {
    const other = byQueue.get(consumer.queue);
    if (other) {
      issues.push({
        file: consumer.origin.file,
        line: consumer.origin.line,
        col: consumer.origin.col,
        pointer: consumer.pointer,
        message: `queue \`${consumer.queue}\` is already consumed by route \`${other.route}\` (${other.origin.file}:${other.origin.line}); one route per queue`,
      });
    }
    byQueue.set(consumer.queue, consumer);
  }
  return { config: { exchanges, queues, routes, plugins }, issues, secrets, pluginUses };
}

/**
 * The longest queue name a route makes Warren declare (its DLQ `<queue>.dlq`, its delay tiers
 * `warren.retry.<queue>.<delay>`), as an issue when it passes the broker's 255 bytes. The name
 * itself is not repeated: it may hold an interpolated value.
 */
function longestDerivedName(queue: string, r: RawRoute): string | undefined {
  const backoffMs = r.retry?.backoff?.map(parseDuration) ?? [...defaults.retry.backoffMs];
  const names = derivedQueueNames({
    queue,
    retry: { attempts: r.retry?.attempts ?? defaults.retry.attempts, backoffMs },
    deadLetterQueue: r.deadLetter?.queue ?? defaultDeadLetterQueue(queue),
  });
  const longest = names
    .map((n) => ({ ...n, bytes: Buffer.byteLength(n.name, 'utf8') }))
    .sort((a, b) => b.bytes - a.bytes)[0];
  if (!longest || longest.bytes <= MAX_NAME_BYTES) return undefined;
  const form =
    longest.role === 'retry'
      ? `delay-tier queue \`warren.retry.<queue>.${longest.name.slice(longest.name.lastIndexOf('.') + 1)}\``
      : 'dead-letter queue `<queue>.dlq`';
  return `with this queue name the ${form} Warren declares would be ${longest.bytes} bytes long in UTF-8; RabbitMQ allows at most ${MAX_NAME_BYTES}: shorten the queue name${longest.role === 'dead-letter' ? ' or set deadLetter.queue' : ''}`;
}

function normalizeTarget(to: Record<string, Record<string, unknown>>): TargetSpec {
  const [kind, raw] = Object.entries(to)[0] as [string, Record<string, unknown>];
  const target = targets.find((t) => t.kind === kind);
  if (!target) throw new Error(`schema admitted unknown target ${kind}`);
  return (target as TargetModule).normalize(raw);
}
