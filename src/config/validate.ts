import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { normalizePluginRef, type RawPluginRef, resolvePluginRef } from '../plugins/ref.js';
import { targets } from '../targets/registry.js';
import type { TargetModule } from '../targets/types.js';
import { isDuration, parseDuration } from './duration.js';
import { interpolateDocs } from './interpolate.js';
import { type ConfigIssue, type LoadedFiles, type LoadOptions, loadRouteFiles, type RawDoc } from './load.js';
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
const validateDocument = ajv.compile(routesSchema);

export type ValidationResult =
  | { ok: true; config: Config }
  | {
      ok: false;
      issues: ConfigIssue[] /** hash of the files, as `config.version` would be */;
      version: string;
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
  const valid: Array<{ raw: RawDoc; data: RawDocument }> = [];
  for (const raw of loaded.docs) {
    const data = toData(raw, issues);
    if (data === undefined) continue;
    if (!validateDocument(data)) {
      const schemaIssues = toIssues(raw, validateDocument.errors ?? []);
      for (const issue of schemaIssues) {
        if (!unresolved.has(`${issue.file}\0${issue.pointer}`)) issues.push(issue);
      }
      continue;
    }
    valid.push({ raw, data: data as RawDocument });
  }
  const built = buildConfig(valid, pluginsDir);
  for (const issue of built.issues) issues.push(issue);
  if (issues.length > 0) {
    // An issue names the place, never a value an interpolation produced.
    const shown = redactIssues(sortIssues(issues), interpolation.secrets);
    return { ok: false, issues: shown, version: loaded.version };
  }
  return {
    ok: true,
    config: {
      ...built.config,
      secrets: [...new Set([...interpolation.secrets, ...built.secrets])],
      version: loaded.version,
    },
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
  const detailed = new Set(
    errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'type').map((e) => e.instancePath),
  );
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && durationPaths.has(error.instancePath)) continue;
    if (error.keyword === 'type' && otherPaths.has(error.instancePath)) continue;
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

function describe(error: ErrorObject): { pointer: string; message: string; atKey: boolean } {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;
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

function buildConfig(
  docs: Array<{ raw: RawDoc; data: RawDocument }>,
  pluginsDir: string,
): {
  config: Omit<Config, 'secrets' | 'version'>;
  issues: ConfigIssue[];
  /** Signing keys written in the files themselves: redacted like interpolated values. */
  secrets: string[];
} {
  const secrets: string[] = [];
  const issues: ConfigIssue[] = [];
  const exchanges: ExchangeSpec[] = [];
  const queues: QueueSpec[] = [];
  const routes: RouteSpec[] = [];
  const defined = new Map<string, Origin>();
  const plugins: Record<string, string> = {};
  /** The plugin ref resolved inside the plugins directory, or an issue at its pointer. */
  const plugin = (raw: RawDoc, pointer: string, ref: PluginRef): PluginRef | undefined => {
    const resolved = resolvePluginRef(ref, pluginsDir);
    if ('error' in resolved) {
      const pos = position(raw, pointer, false);
      issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer, message: resolved.error });
      return undefined;
    }
    plugins[resolved.ref.file] = resolved.source;
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

  for (const { raw, data } of docs) {
    for (const [name, x] of Object.entries(data.exchanges ?? {})) {
      const origin = claim('exchange', name, raw, `/exchanges/${escapePointer(name)}`);
      if (!origin) continue;
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
    for (const [name, q] of Object.entries(data.queues ?? {})) {
      const origin = claim('queue', name, raw, `/queues/${escapePointer(name)}`);
      if (!origin) continue;
      queues.push({
        name,
        type: q.type ?? defaults.queueType,
        arguments: q.arguments ?? {},
        bind: toBindings(q.bind),
        origin,
      });
    }
    for (const [name, r] of Object.entries(data.routes ?? {})) {
      const pointer = `/routes/${escapePointer(name)}`;
      const origin = claim('route', name, raw, pointer);
      if (!origin) continue;
      const prefetch = r.prefetch ?? defaults.prefetch;
      const backoff = r.retry?.backoff?.map(parseDuration) ?? [...defaults.retry.backoffMs];
      let target = normalizeTarget(r.to);
      if (target.kind === 'plugin') {
        const ref = plugin(raw, `${pointer}/to/plugin/file`, target.plugin);
        if (!ref) continue;
        target = { kind: 'plugin', plugin: ref };
      }
      const transform = r.transform
        ? plugin(
            raw,
            typeof r.transform === 'string' ? `${pointer}/transform` : `${pointer}/transform/file`,
            normalizePluginRef(r.transform),
          )
        : undefined;
      if (r.transform && !transform) continue;
      const at = (sub: string, message: string): void => {
        const pos = position(raw, `${pointer}${sub}`, false);
        issues.push({ file: raw.file, line: pos.line, col: pos.col, pointer: `${pointer}${sub}`, message });
      };
      if (target.kind === 'webhook') {
        secrets.push(...(target.sign?.secrets ?? []));
        const both = target.retryOn.filter((status) => target.deadLetterOn.includes(status));
        if (both.length > 0) {
          at('/to/webhook/deadLetterOn', `status ${both.join(', ')} is in both retryOn and deadLetterOn`);
          continue;
        }
        if (target.circuit && (target.circuit.windowMs < 1 || target.circuit.cooldownMs < 1)) {
          at('/to/webhook/circuit', 'circuit window and cooldown must be at least 1ms');
          continue;
        }
      }
      let rateLimit: RateLimit | undefined;
      if (r.rateLimit) {
        rateLimit = {
          rate: r.rateLimit.rate,
          perMs: r.rateLimit.per === undefined ? 1_000 : parseDuration(r.rateLimit.per),
          burst: r.rateLimit.burst ?? r.rateLimit.rate,
        };
        if (rateLimit.perMs < 1) {
          at('/rateLimit/per', 'rateLimit.per must be at least 1ms');
          continue;
        }
      }
      const maxInFlightBytes =
        r.maxInFlightBytes === undefined ? defaults.maxInFlightBytes : parseSize(r.maxInFlightBytes);
      if (!Number.isSafeInteger(maxInFlightBytes)) {
        at('/maxInFlightBytes', `maxInFlightBytes must be at most ${Number.MAX_SAFE_INTEGER} bytes`);
        continue;
      }
      routes.push({
        name,
        queue: r.from.queue,
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
        deadLetterQueue: r.deadLetter?.queue ?? `${r.from.queue}.dlq`,
        origin,
      });
    }
  }

  const consumers = new Map<string, RouteSpec>();
  for (const route of routes) {
    const other = consumers.get(route.queue);
    if (other) {
      issues.push({
        file: route.origin.file,
        line: route.origin.line,
        col: route.origin.col,
        pointer: `/routes/${escapePointer(route.name)}`,
        message: `queue \`${route.queue}\` is already consumed by route \`${other.name}\` (${other.origin.file}:${other.origin.line}); one route per queue`,
      });
    }
    consumers.set(route.queue, route);
  }
  return { config: { exchanges, queues, routes, plugins }, issues, secrets };
}

function normalizeTarget(to: Record<string, Record<string, unknown>>): TargetSpec {
  const [kind, raw] = Object.entries(to)[0] as [string, Record<string, unknown>];
  const target = targets.find((t) => t.kind === kind);
  if (!target) throw new Error(`schema admitted unknown target ${kind}`);
  return (target as TargetModule).normalize(raw);
}
