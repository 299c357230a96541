import { normalizePluginRef, type RawPluginRef, resolvePluginRef } from '../plugins/ref.js';
import { targets } from '../targets/registry.js';
import { defaultDeadLetterQueue } from '../topology/plan.js';
import {
  type Consumer,
  checkOrdering,
  checkReplicas,
  checkTarget,
  derivedNameIssue,
  oneRoutePerQueue,
  type ReplicasUse,
  type RouteCheck,
} from './checks.js';
import type { RawDoc } from './documents.js';
import { parseDuration } from './duration.js';
import { type ConfigIssue, escapePointer, issueAt } from './issues.js';
import { positionOf } from './positions.js';
import { resolveContracts } from './route-schema.js';
import type { RawBinding, RawDocument, RawExchange, RawFilter, RawQueue, RawRoute } from './schema.js';
import { defaultSchemasDir, SchemaCatalog } from './schemas.js';
import { parseSize } from './size.js';
import {
  type ArgValue,
  type Binding,
  type Config,
  defaults,
  type Filter,
  type Origin,
  type PluginRef,
  type RateLimit,
  type RetryPolicy,
  type RouteSpec,
  type TargetSpec,
} from './types.js';
import type { CheckedDoc } from './validate.js';

/**
 * Normalise: the schema-checked documents → the `Config` the runtime takes (defaults filled,
 * durations in milliseconds, plugins resolved), with the checks a schema cannot say: names
 * defined twice, one route per queue, derived names within the broker's limits.
 */

/** A route's reference to a plugin, resolved and read: `warren validate` compiles each one. */
export interface PluginUse {
  ref: PluginRef;
  source: string;
  /** Where the route file names the plugin. */
  at: Omit<ConfigIssue, 'message'>;
}

export interface Normalized {
  config: Omit<Config, 'secrets' | 'version'>;
  issues: ConfigIssue[];
  /** Signing keys written in the files themselves: redacted like interpolated values. */
  secrets: string[];
  pluginUses: PluginUse[];
}

/** What normalising gathers across every document. */
interface State extends Normalized {
  pluginsDir: string;
  /** The schemas directory; the first route declaring `schema:` compiles it. */
  schemas: SchemaCatalog;
  usesSchemas: boolean;
  /** The first definition of each `kind\0name`. */
  defined: Map<string, Origin>;
  /** Queues consumed, for one route per queue: from every route whose `from.queue` is readable. */
  consumers: Consumer[];
  /** Every route's replicas and dead-letter queue, checked against the `queues:` entries at the end. */
  replicas: ReplicasUse[];
}

export function normalizeDocs(docs: CheckedDoc[], pluginsDir: string, schemas?: SchemaCatalog): Normalized {
  const config: Normalized['config'] = { exchanges: [], queues: [], routes: [], plugins: {} };
  const state: State = {
    config,
    issues: [],
    secrets: [],
    pluginUses: [],
    pluginsDir,
    schemas: schemas ?? SchemaCatalog.empty(defaultSchemasDir),
    usesSchemas: false,
    defined: new Map(),
    consumers: [],
    replicas: [],
  };
  for (const doc of docs) {
    const data = doc.data as RawDocument | undefined;
    for (const [name, value] of entriesOf(data?.exchanges)) addExchange(state, doc, name, value);
    for (const [name, value] of entriesOf(data?.queues)) addQueue(state, doc, name, value);
    for (const [name, value] of entriesOf(data?.routes)) addRoute(state, doc, name, value);
  }
  for (const issue of oneRoutePerQueue(state.consumers)) state.issues.push(issue);
  for (const issue of checkReplicas(state.replicas, config.queues)) state.issues.push(issue);
  if (state.usesSchemas) {
    // A `$ref` may reach any file: with one route checking bodies, every schema file must compile.
    for (const issue of state.schemas.issues()) state.issues.push(issue);
    config.schemas = state.schemas.files();
  }
  const { issues, secrets, pluginUses } = state;
  return { config, issues, secrets, pluginUses };
}

function entriesOf(value: unknown): Array<[string, unknown]> {
  return isObject(value) ? Object.entries(value) : [];
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The definition's origin, or an issue when the same kind of thing was defined before. */
function claim(state: State, kind: string, name: string, raw: RawDoc, pointer: string): Origin | undefined {
  const pos = positionOf(raw, pointer, true);
  const origin = { file: raw.file, line: pos.line, col: pos.col };
  const first = state.defined.get(`${kind}\0${name}`);
  if (first) {
    const message = `${kind} \`${name}\` is defined twice: ${first.file}:${first.line} and ${origin.file}:${origin.line}`;
    state.issues.push({ ...origin, pointer, message });
    return undefined;
  }
  state.defined.set(`${kind}\0${name}`, origin);
  return origin;
}

function addExchange(state: State, { raw, broken }: CheckedDoc, name: string, value: unknown): void {
  const pointer = `/exchanges/${escapePointer(name)}`;
  const origin = claim(state, 'exchange', name, raw, pointer);
  if (!origin || broken(pointer)) return;
  const x = value as RawExchange;
  state.config.exchanges.push({
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

function addQueue(state: State, { raw, broken }: CheckedDoc, name: string, value: unknown): void {
  const pointer = `/queues/${escapePointer(name)}`;
  const origin = claim(state, 'queue', name, raw, pointer);
  if (!origin || broken(pointer)) return;
  const q = value as RawQueue;
  const type = q.type ?? defaults.queueType;
  if (q.replicas !== undefined && type === 'classic') {
    const message =
      'replicas sets x-quorum-initial-group-size, which only a quorum queue has: this queue is type: classic';
    state.issues.push(issueAt(raw, `${pointer}/replicas`, message));
    return;
  }
  if (q.replicas !== undefined && q.arguments?.['x-quorum-initial-group-size'] !== undefined) {
    // Arguments pass as they are and would win on this queue, while the routes' delay tiers and
    // dead-letter queue took `replicas`: one value, given once.
    const message =
      'x-quorum-initial-group-size is what replicas sets: give the number once, as replicas (it also reaches the delay tiers and the dead-letter queue)';
    state.issues.push(issueAt(raw, `${pointer}/arguments/x-quorum-initial-group-size`, message, true));
    return;
  }
  state.config.queues.push({
    name,
    type,
    ...(q.replicas !== undefined ? { replicas: q.replicas } : {}),
    arguments: q.arguments ?? {},
    bind: toBindings(q.bind),
    origin,
  });
}

function toBindings(list: RawBinding[] | undefined): Binding[] {
  return (list ?? []).map((b) => ({
    exchange: b.exchange,
    key: b.key ?? '',
    // FromSchema widens a map with both named and additional properties to `unknown` values;
    // the schema holds every header value to ArgValue (`x-match` included).
    ...(b.headers ? { headers: { 'x-match': 'all', ...(b.headers as Record<string, ArgValue>) } } : {}),
  }));
}

function addRoute(state: State, { raw, broken }: CheckedDoc, name: string, value: unknown): void {
  const pointer = `/routes/${escapePointer(name)}`;
  const origin = claim(state, 'route', name, raw, pointer);
  if (!origin || !isObject(value)) return;
  const r = value as RawRoute;
  let fine = !broken(pointer);
  const check: RouteCheck = {
    raw,
    pointer,
    ok: (sub) => !broken(`${pointer}${sub}`),
    fail: (sub, message) => {
      state.issues.push(issueAt(raw, `${pointer}${sub}`, message));
      fine = false;
    },
  };
  const queue = check.ok('/from/queue') && typeof r.from?.queue === 'string' ? r.from.queue : undefined;
  if (queue !== undefined) state.consumers.push({ route: name, queue, origin, pointer });
  checkTarget(check, r.to);
  checkOrdering(check, r);
  if (queue !== undefined && check.ok('/retry') && check.ok('/deadLetter')) {
    const tooLong = derivedNameIssue(queue, retryOf(r), deadLetterQueueOf(r, queue));
    if (tooLong) check.fail('/from/queue', tooLong);
  }
  const plugins = resolvePlugins(state, check, r);
  if (!plugins) fine = false;
  const contracts = resolveContracts(check, r, state.schemas);
  state.usesSchemas ||= contracts.uses;
  if (!contracts.ok) fine = false;
  const maxInFlightBytes =
    r.maxInFlightBytes === undefined || !check.ok('/maxInFlightBytes')
      ? defaults.maxInFlightBytes
      : parseSize(r.maxInFlightBytes);
  if (!Number.isSafeInteger(maxInFlightBytes)) {
    check.fail('/maxInFlightBytes', `maxInFlightBytes must be at most ${Number.MAX_SAFE_INTEGER} bytes`);
  }
  if (!fine || !plugins || queue === undefined) return;
  const at = (sub: string, present: unknown) =>
    issueAt(raw, present === undefined ? pointer : `${pointer}${sub}`, '', present === undefined);
  state.replicas.push({
    route: name,
    queue,
    deadLetterQueue: deadLetterQueueOf(r, queue),
    replicas: r.from.replicas,
    at: at('/from/replicas', r.from.replicas),
    deadLetterAt: at('/deadLetter/queue', r.deadLetter?.queue),
  });

  // Schema-valid and every check passed: the route as the runtime takes it.
  const route = toRoute(name, queue, r, origin, plugins, maxInFlightBytes);
  Object.assign(route, contracts.spec);
  if (route.target.kind === 'webhook') state.secrets.push(...(route.target.sign?.secrets ?? []));
  state.config.routes.push(route);
}

interface RoutePlugins {
  target?: PluginRef;
  transform?: PluginRef;
}

/** The plugin target and the transform, resolved inside the plugins directory; undefined if one is not. */
function resolvePlugins(state: State, check: RouteCheck, r: RawRoute): RoutePlugins | undefined {
  const plugins: RoutePlugins = {};
  let fine = true;
  const plugin = r.to?.plugin;
  if (plugin && check.ok('/to/plugin')) {
    plugins.target = usePlugin(state, check.raw, `${check.pointer}/to/plugin/file`, plugin);
    if (!plugins.target) fine = false;
  }
  if (r.transform !== undefined && check.ok('/transform')) {
    const at = typeof r.transform === 'string' ? '/transform' : '/transform/file';
    plugins.transform = usePlugin(state, check.raw, `${check.pointer}${at}`, r.transform);
    if (!plugins.transform) fine = false;
  }
  return fine ? plugins : undefined;
}

/** The plugin ref resolved inside the plugins directory, or an issue at its pointer. */
function usePlugin(state: State, raw: RawDoc, pointer: string, ref: RawPluginRef): PluginRef | undefined {
  const pos = positionOf(raw, pointer, false);
  const at = { file: raw.file, line: pos.line, col: pos.col, pointer };
  const resolved = resolvePluginRef(normalizePluginRef(ref), state.pluginsDir);
  if ('error' in resolved) {
    state.issues.push({ ...at, message: resolved.error });
    return undefined;
  }
  state.config.plugins[resolved.ref.file] = resolved.source;
  state.pluginUses.push({ ref: resolved.ref, source: resolved.source, at });
  return resolved.ref;
}

function toRoute(
  name: string,
  queue: string,
  r: RawRoute,
  origin: Origin,
  plugins: RoutePlugins,
  maxInFlightBytes: number,
): RouteSpec {
  const prefetch = r.prefetch ?? defaults.prefetch;
  const singleActiveConsumer = r.singleActiveConsumer === true;
  const ordered = singleActiveConsumer && r.ordered !== false;
  let target = normalizeTarget(r.to);
  if (target.kind === 'plugin' && plugins.target) target = { kind: 'plugin', plugin: plugins.target };
  return {
    name,
    queue,
    bind: toBindings(r.from.bind),
    ...(r.from.replicas !== undefined ? { replicas: r.from.replicas } : {}),
    prefetch,
    // One handler at a time is what keeps an ordered route's order (checkOrdering refused more).
    concurrency: ordered ? 1 : Math.min(r.concurrency ?? prefetch, prefetch),
    singleActiveConsumer,
    ordered,
    deliveryLimit: r.deliveryLimit ?? defaults.deliveryLimit,
    ...(r.when ? { when: toFilter(r.when) } : {}),
    ...(r.rateLimit ? { rateLimit: toRateLimit(r.rateLimit) } : {}),
    maxInFlightBytes,
    ...(plugins.transform ? { transform: plugins.transform } : {}),
    target,
    retry: retryOf(r),
    deadLetterQueue: deadLetterQueueOf(r, queue),
    origin,
  };
}

function retryOf(r: RawRoute): RetryPolicy {
  return {
    attempts: r.retry?.attempts ?? defaults.retry.attempts,
    backoffMs: r.retry?.backoff?.map(parseDuration) ?? [...defaults.retry.backoffMs],
  };
}

function deadLetterQueueOf(r: RawRoute, queue: string): string {
  return r.deadLetter?.queue ?? defaultDeadLetterQueue(queue);
}

function toRateLimit(raw: NonNullable<RawRoute['rateLimit']>): RateLimit {
  return {
    rate: raw.rate,
    perMs: raw.per === undefined ? 1_000 : parseDuration(raw.per),
    burst: raw.burst ?? raw.rate,
  };
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

function normalizeTarget(to: RawRoute['to']): TargetSpec {
  // The schema held `raw` to this kind's own schema; a list of modules cannot pair the two for tsc.
  const [kind, raw] = Object.entries(to)[0] as [string, never];
  const target = targets.find((t) => t.kind === kind);
  if (!target) throw new Error(`schema admitted unknown target ${kind}`);
  return target.normalize(raw);
}
