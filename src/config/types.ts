import type { RawPluginRef } from '../plugins/ref.js';
import type { RawPluginTarget } from '../targets/plugin-schema.js';
import type { RawRepublish } from '../targets/republish-schema.js';
import type { RawCircuit, RawWebhook } from '../targets/webhook-schema.js';
import type { RawBinding, RawExchange, RawFilter, RawQueue, RawRoute } from './schema.js';

/**
 * The validated, normalised configuration: defaults filled, durations in milliseconds. What the
 * schema says is derived from it (`Raw*`, by `FromSchema`); what normalising changes is written
 * here, and `Conforms` at the end fails the build when the two drift apart.
 */

export type ExchangeType = RawExchange['type'];
export type QueueType = NonNullable<RawQueue['type']>;
export type ArgValue = NonNullable<RawExchange['arguments']>[string];

/** Where a definition came from, for error messages and duplicate detection. */
export interface Origin {
  file: string;
  line: number;
  col: number;
}

export interface Binding {
  /** The source exchange. */
  exchange: string;
  /** Routing key (or pattern); '' when the binding matches on headers. */
  key: string;
  /** Header match arguments for a headers exchange, `x-match` included. */
  headers?: Record<string, ArgValue>;
}

export interface ExchangeSpec {
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  alternateExchange?: string;
  arguments: Record<string, ArgValue>;
  /** Exchange-to-exchange bindings: this exchange receives from each source. */
  bind: Binding[];
  origin: Origin;
}

export interface QueueSpec {
  name: string;
  type: QueueType;
  /** x-quorum-initial-group-size (quorum only); undefined: the broker's default. */
  replicas?: number;
  arguments: Record<string, ArgValue>;
  bind: Binding[];
  origin: Origin;
}

/** How a webhook request carries the message (README: Body modes). */
export type BodyMode = NonNullable<RawWebhook['body']>;

/**
 * A webhook's circuit breaker: over the last `windowMs`, once at least `minRequests` requests
 * finished and at least `failureRate` of them failed (timeout, connection error, 408, 429, 5xx —
 * what `retryOn` makes a retry), the route stops starting deliveries for `cooldownMs`; then one
 * probe goes through (half-open) and its result closes or reopens the circuit. It also opens after
 * `consecutiveFailures` failed requests in a row, however many successes the window holds.
 */
export interface CircuitPolicy {
  failureRate: number;
  minRequests: number;
  consecutiveFailures: number;
  windowMs: number;
  cooldownMs: number;
}

export interface WebhookTargetSpec {
  kind: 'webhook';
  url: string;
  method: NonNullable<RawWebhook['method']>;
  headers: Record<string, string>;
  timeoutMs: number;
  body: BodyMode;
  /** Standard Webhooks signing keys (`whsec_…`): every one signs, so receivers can rotate. */
  sign?: { secrets: string[] };
  /** Statuses retried whatever their default (expanded from `5xx`-style classes). */
  retryOn: number[];
  /** Statuses dead-lettered whatever their default. */
  deadLetterOn: number[];
  /** Undefined when turned off with `circuit: false`. */
  circuit?: CircuitPolicy;
}

export interface RepublishTargetSpec {
  kind: 'republish';
  exchange: string;
  /** Literal, or a template where `{{routingKey}}` is the message's original routing key. */
  routingKey: string;
  headers: Record<string, ArgValue>;
  persistent: boolean;
  mandatory: boolean;
}

/** A sandboxed plugin file, resolved inside the plugins directory. */
export interface PluginRef {
  /** Absolute path. */
  file: string;
  /** Path relative to the plugins directory: the `plugin` label of plugin metrics. */
  name: string;
  timeoutMs: number;
  memoryLimitMb: number;
  /** Hash of the source: part of the fingerprint, so editing a plugin reloads the routes using it. */
  sourceHash: string;
}

export interface PluginTargetSpec {
  kind: 'plugin';
  plugin: PluginRef;
}

export type TargetSpec = WebhookTargetSpec | RepublishTargetSpec | PluginTargetSpec;

/** `schema: { by, map, otherwise }`: the schema of each message chosen by its `type` or a header. */
export interface SchemaChoice {
  /** The AMQP `type` property, or a header (named as written; AMQP header names are case-sensitive). */
  by: { property: 'type' } | { header: string };
  /** Value (as text) → schema name. */
  map: Record<string, string>;
  /** A message whose value is absent or not in the map: dead-lettered as invalid, or delivered unchecked. */
  otherwise: 'deadLetter' | 'pass';
}

/**
 * A route's message contract: one schema for every message, or a choice per message. `setHash`
 * is the hash of the schemas directory: part of the fingerprint, so editing a schema reloads the
 * routes that declare one (a `$ref` may reach any file of the directory).
 */
export type MessageSchema = ({ name: string } | { choose: SchemaChoice }) & { setHash: string };

/** The schemas directory as loaded, when a route declares `schema:`: compiled where it is used. */
export interface SchemaFiles {
  /** As given (`--schemas`), for messages. */
  dir: string;
  /** Hash of every file's name and text: the key of the compiled set. */
  hash: string;
  files: Array<{ name: string; text: string }>;
}

export interface RetryPolicy {
  /** Total tries including the first. */
  attempts: number;
  /** Delay before retry n (1-based) is backoffMs[min(n-1, len-1)]. */
  backoffMs: number[];
}

/** One header condition of a `when` filter. */
export type HeaderCondition =
  /** The header equals one of these values (compared as text). */
  { oneOf: ArgValue[] } | { exists: boolean };

/** A consumer-side filter: every condition given must hold. */
export interface Filter {
  /** AMQP topic patterns (`*` one word, `#` zero or more): the original routing key matches one. */
  routingKey?: string[];
  headers: Record<string, HeaderCondition>;
}

/** A token bucket: `rate` tokens every `perMs`, holding at most `burst`. */
export interface RateLimit {
  rate: number;
  perMs: number;
  burst: number;
}

export interface RouteSpec {
  name: string;
  queue: string;
  bind: Binding[];
  /** `from.replicas`: x-quorum-initial-group-size of the route's quorum queues. */
  replicas?: number;
  prefetch: number;
  concurrency: number;
  /** x-single-active-consumer on the source queue: one replica consumes at a time. */
  singleActiveConsumer: boolean;
  /** Kept in order (concurrency 1); only ever false for a singleActiveConsumer route that says so. */
  ordered: boolean;
  /** x-delivery-limit for a quorum source queue (poison guard). */
  deliveryLimit: number;
  /** Optional filter: non-matching deliveries are acked and counted as `filtered`. */
  when?: Filter;
  /** Optional per-replica rate limit on starting deliveries. */
  rateLimit?: RateLimit;
  /** The most body bytes of deliveries started and not yet settled (one larger delivery runs alone). */
  maxInFlightBytes: number;
  /** Optional check of each body against a JSON Schema, after `when`, before `transform`. */
  schema?: MessageSchema;
  /** `to.webhook.schema` / `to.republish.schema`: what reaches the target (after the transform) is checked. */
  outputSchema?: { name: string; setHash: string };
  /** Optional sandboxed step before the target. */
  transform?: PluginRef;
  target: TargetSpec;
  retry: RetryPolicy;
  deadLetterQueue: string;
  origin: Origin;
}

export interface Config {
  exchanges: ExchangeSpec[];
  queues: QueueSpec[];
  routes: RouteSpec[];
  /** Interpolated values: redacted wherever configuration is shown. */
  secrets: string[];
  /** Hash of the loaded files' contents. */
  version: string;
  /** Source of every plugin a route uses, by absolute path (compiled once per file and limits). */
  plugins: Record<string, string>;
  /** The schemas directory, when a route declares `schema:`. */
  schemas?: SchemaFiles;
}

export const defaults = {
  prefetch: 32,
  /** 64 MiB: half a dozen 8 MB messages at once, a few hundred MB with their copies and requests. */
  maxInFlightBytes: 64 * 1024 ** 2,
  deliveryLimit: 10,
  retry: { attempts: 5, backoffMs: [1_000, 10_000, 60_000, 300_000] },
  webhookTimeoutMs: 10_000,
  circuit: {
    failureRate: 0.5,
    minRequests: 20,
    consecutiveFailures: 10,
    windowMs: 30_000,
    cooldownMs: 30_000,
  },
  pluginTimeoutMs: 50,
  pluginMemoryLimitMb: 32,
  queueType: 'quorum' as QueueType,
} as const;

const hour = 3_600_000;

/**
 * What the broker and the runtime can carry, enforced when route files are validated (the README's
 * "Limits" table says why each bound is where it is). Zero is never a duration limit: to the
 * sandbox a zero timeout means none, to HTTP it means failing every call.
 */
export const limits = {
  /** Stays well under the broker's consumer_timeout (30 min by default), which closes a channel holding a delivery. */
  webhookTimeout: { minMs: 1, maxMs: 15 * 60_000 },
  /** A synchronous plugin holds Node's event loop while it runs. */
  pluginTimeout: { minMs: 1, maxMs: 10_000 },
  /** 0 retries at once (through a zero-TTL delay tier); a day is far inside x-message-ttl's range. */
  backoff: { minMs: 0, maxMs: 24 * hour },
  /** Token-bucket timers wait at most `per`: inside setTimeout's 2^31-1 ms. */
  ratePer: { minMs: 1, maxMs: 24 * hour },
  circuitWindow: { minMs: 100, maxMs: hour },
  circuitCooldown: { minMs: 100, maxMs: hour },
  /** prefetch (basic.qos carries 16 bits), concurrency and deliveryLimit. */
  amqpShort: 65_535,
} as const;

// ---------------------------------------------------------------------------------------------
// Drift checks: each key the schema admits is either kept under its name with the same type
// (defaults filled) or named as changed by normalising. A new key in a schema, or a type that
// changed on one side only, fails `tsc` here.

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The raw keys that break the rule: `never` when `Spec` conforms. */
type Drift<Spec, Raw, Changed extends keyof Raw> = {
  [K in Exclude<keyof Raw, Changed>]-?: K extends keyof Spec
    ? Same<Exclude<Spec[K], undefined>, Exclude<Raw[K], undefined>> extends true
      ? never
      : K
    : K;
}[Exclude<keyof Raw, Changed>];
type Conforms<Spec, Raw, Changed extends keyof Raw = never> = [Drift<Spec, Raw, Changed>] extends [never]
  ? true
  : Drift<Spec, Raw, Changed>;
type Assert<T extends true> = T;

type RawSign = NonNullable<RawWebhook['sign']>;
type RawPluginObject = Exclude<RawPluginRef, string>;
type RawSchemaChoice = Exclude<NonNullable<RawRoute['schema']>, string>;

type _ConformsToSchema = [
  Assert<Conforms<ExchangeSpec, RawExchange, 'bind'>>,
  Assert<Conforms<QueueSpec, RawQueue, 'bind'>>,
  Assert<Conforms<Binding, RawBinding, 'headers'>>,
  Assert<Conforms<Filter, RawFilter, 'routingKey' | 'headers'>>,
  Assert<
    Same<
      Extract<HeaderCondition, { exists: boolean }>,
      Extract<NonNullable<RawFilter['headers']>[string], { exists: boolean }>
    >
  >,
  Assert<
    Conforms<
      RouteSpec,
      RawRoute,
      | 'from'
      | 'when'
      | 'rateLimit'
      | 'maxInFlightBytes'
      | 'schema'
      | 'transform'
      | 'to'
      | 'retry'
      | 'deadLetter'
    >
  >,
  Assert<Conforms<SchemaChoice, RawSchemaChoice, 'by'>>,
  Assert<Conforms<RateLimit, NonNullable<RawRoute['rateLimit']>, 'per'>>,
  Assert<Conforms<RetryPolicy, NonNullable<RawRoute['retry']>, 'backoff'>>,
  Assert<
    Conforms<
      WebhookTargetSpec,
      RawWebhook,
      'timeout' | 'sign' | 'retryOn' | 'deadLetterOn' | 'circuit' | 'schema'
    >
  >,
  Assert<Conforms<NonNullable<WebhookTargetSpec['sign']>, RawSign, 'secret'>>,
  Assert<Conforms<CircuitPolicy, RawCircuit, 'window' | 'cooldown'>>,
  // A target's `schema` becomes the route's `outputSchema` (with the directory's hash).
  Assert<Conforms<RepublishTargetSpec, RawRepublish, 'schema'>>,
  // `to.plugin` and `transform` share pluginRefSchema's keys, and PluginRef holds both normalised.
  Assert<Conforms<PluginRef, RawPluginTarget, 'timeout'>>,
  Assert<Conforms<PluginRef, RawPluginObject, 'timeout'>>,
];
