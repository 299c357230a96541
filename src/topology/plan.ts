import { formatDuration } from '../config/duration.js';
import type {
  ArgValue,
  Binding,
  Config,
  ExchangeSpec,
  Filter,
  MessageSchema,
  PluginRef,
  RateLimit,
  RetryPolicy,
  RouteSpec,
  TargetSpec,
} from '../config/types.js';
import { fingerprint } from './fingerprint.js';

/**
 * What Warren declares, binds and consumes for a configuration: a pure function of the config,
 * shared by `warren plan`, start-up and reload.
 */
export interface QueueDecl {
  name: string;
  durable: true;
  arguments: Record<string, ArgValue>;
  role: 'source' | 'retry' | 'dead-letter' | 'standalone';
}

export interface BindingDecl extends Binding {
  /** The queue or, for exchange-to-exchange bindings, the destination exchange. */
  destination: string;
  destinationKind: 'queue' | 'exchange';
}

export interface RetryTier {
  delayMs: number;
  queue: string;
}

export interface RoutePlan {
  name: string;
  queue: string;
  prefetch: number;
  concurrency: number;
  /** Its queue has x-single-active-consumer: one replica consumes at a time. */
  singleActiveConsumer: boolean;
  when?: Filter;
  rateLimit?: RateLimit;
  maxInFlightBytes: number;
  schema?: MessageSchema;
  outputSchema?: RouteSpec['outputSchema'];
  transform?: PluginRef;
  target: TargetSpec;
  retry: RetryPolicy;
  tiers: RetryTier[];
  deadLetterQueue: string;
  /** Queues this route declares (source, tiers, DLQ) and the bindings of its source queue. */
  queues: QueueDecl[];
  bindings: BindingDecl[];
  /** Exchanges the route's bindings read from: if one fails to declare, so does the route. */
  exchanges: string[];
  /** Changes when anything about the route changes. */
  fingerprint: string;
  /** Changes when the consumer must be restarted (source queue and its arguments, bindings, prefetch). */
  sourceFingerprint: string;
  origin: RouteSpec['origin'];
}

export interface Plan {
  version: string;
  exchanges: ExchangeSpec[];
  exchangeBindings: BindingDecl[];
  /** Queues under `queues:` that no route consumes, with their bindings. */
  queues: QueueDecl[];
  queueBindings: BindingDecl[];
  routes: RoutePlan[];
}

export const emptyPlan: Plan = {
  version: '',
  exchanges: [],
  exchangeBindings: [],
  queues: [],
  queueBindings: [],
  routes: [],
};

export function retryTierQueue(queue: string, delayMs: number): string {
  return `warren.retry.${queue}.${formatDuration(delayMs)}`;
}

/** Where a route's dead letters go when it names no `deadLetter.queue`. */
export function defaultDeadLetterQueue(queue: string): string {
  return `${queue}.dlq`;
}

/** One delay tier per distinct backoff value, shortest first; none when a route never retries. */
export function retryTiers(route: Pick<RouteSpec, 'queue' | 'retry'>): RetryTier[] {
  const delays = [...new Set(route.retry.attempts > 1 ? route.retry.backoffMs : [])].sort((a, b) => a - b);
  return delays.map((delayMs) => ({ delayMs, queue: retryTierQueue(route.queue, delayMs) }));
}

/** The queues a route makes Warren declare beside its source queue (validation checks their length). */
export function derivedQueueNames(
  route: Pick<RouteSpec, 'queue' | 'retry' | 'deadLetterQueue'>,
): Array<{ name: string; role: 'dead-letter' | 'retry' }> {
  return [
    { name: route.deadLetterQueue, role: 'dead-letter' as const },
    ...retryTiers(route).map((tier) => ({ name: tier.queue, role: 'retry' as const })),
  ];
}

/** The delay before retry number `attempt` (the attempt that just failed, 1-based). */
export function delayForAttempt(policy: RetryPolicy, attempt: number): number {
  return policy.backoffMs[Math.min(attempt - 1, policy.backoffMs.length - 1)] ?? 0;
}

/** Quorum queues get a typed declaration; classic queues are declared without x-queue-type, as
 * RabbitMQ 3.10 treats an explicit `classic` as different from an absent type on older queues. */
function queueTypeArgs(type: 'quorum' | 'classic'): Record<string, ArgValue> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

/** A quorum queue's members, when the configuration says; otherwise the broker's default. */
function replicasArgs(replicas: number | undefined): Record<string, ArgValue> {
  return replicas === undefined ? {} : { 'x-quorum-initial-group-size': replicas };
}

/** At-least-once dead-lettering (needs reject-publish overflow): a message leaving a quorum queue
 * for its dead-letter target is kept until that target confirmed it. */
const safeDeadLettering = {
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
} as const;

function toBindingDecls(bindings: Binding[], destination: string, kind: 'queue' | 'exchange'): BindingDecl[] {
  return bindings.map((b) => ({ ...b, destination, destinationKind: kind }));
}

export function planTopology(config: Omit<Config, 'secrets'>): Plan {
  const consumed = new Set(config.routes.map((r) => r.queue));
  const defined = new Map(config.queues.map((q) => [q.name, q]));
  const standalone = config.queues.filter((q) => !consumed.has(q.name));
  return {
    version: config.version,
    exchanges: config.exchanges,
    exchangeBindings: config.exchanges.flatMap((x) => toBindingDecls(x.bind, x.name, 'exchange')),
    queues: standalone.map((q) => ({
      name: q.name,
      durable: true,
      arguments: { ...queueTypeArgs(q.type), ...replicasArgs(q.replicas), ...q.arguments },
      role: 'standalone',
    })),
    queueBindings: standalone.flatMap((q) => toBindingDecls(q.bind, q.name, 'queue')),
    routes: config.routes.map((route) => planRoute(route, defined.get(route.queue))),
  };
}

function planRoute(route: RouteSpec, queueSpec: Config['queues'][number] | undefined): RoutePlan {
  const type = queueSpec?.type ?? 'quorum';
  // Validation refused replicas on a classic queue, and two different values for one queue.
  const replicas = replicasArgs(route.replicas ?? queueSpec?.replicas);
  const tiers = retryTiers(route);
  const poisonGuard =
    type === 'quorum'
      ? {
          'x-delivery-limit': route.deliveryLimit,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': route.deadLetterQueue,
          ...safeDeadLettering,
        }
      : {};
  const source: QueueDecl = {
    name: route.queue,
    durable: true,
    arguments: {
      ...queueTypeArgs(type),
      ...(type === 'quorum' ? replicas : {}),
      ...poisonGuard,
      ...(route.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
      ...queueSpec?.arguments,
    },
    role: 'source',
  };
  const dlq: QueueDecl = {
    name: route.deadLetterQueue,
    durable: true,
    arguments: { 'x-queue-type': 'quorum', ...replicas },
    role: 'dead-letter',
  };
  const tierQueues: QueueDecl[] = tiers.map((tier) => ({
    name: tier.queue,
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      ...replicas,
      'x-message-ttl': tier.delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': route.queue,
      ...safeDeadLettering,
    },
    role: 'retry',
  }));
  const bindings = toBindingDecls([...(queueSpec?.bind ?? []), ...route.bind], route.queue, 'queue');
  const queues = [source, dlq, ...tierQueues];
  // Only what needs a new consumer: delay tiers and the DLQ can change under a running consumer.
  const sourceFingerprint = fingerprint({ queue: route.queue, prefetch: route.prefetch, source, bindings });
  // Plugin refs carry their source hash: editing a plugin changes exactly the routes using it.
  const handler = {
    when: route.when ?? null,
    rateLimit: route.rateLimit ?? null,
    maxInFlightBytes: route.maxInFlightBytes,
    // With the schemas directory's hash: editing a schema reloads the routes checking bodies.
    schema: route.schema ?? null,
    outputSchema: route.outputSchema ?? null,
    transform: route.transform ?? null,
    target: route.target,
    retry: route.retry,
    concurrency: route.concurrency,
    deadLetterQueue: route.deadLetterQueue,
  };
  return {
    name: route.name,
    queue: route.queue,
    prefetch: route.prefetch,
    concurrency: route.concurrency,
    singleActiveConsumer: route.singleActiveConsumer,
    ...(route.when ? { when: route.when } : {}),
    ...(route.rateLimit ? { rateLimit: route.rateLimit } : {}),
    maxInFlightBytes: route.maxInFlightBytes,
    ...(route.schema ? { schema: route.schema } : {}),
    ...(route.outputSchema ? { outputSchema: route.outputSchema } : {}),
    ...(route.transform ? { transform: route.transform } : {}),
    target: route.target,
    retry: route.retry,
    tiers,
    deadLetterQueue: route.deadLetterQueue,
    queues,
    bindings,
    exchanges: [...new Set(bindings.map((b) => b.exchange))],
    fingerprint: fingerprint({ sourceFingerprint, handler }),
    sourceFingerprint,
    origin: route.origin,
  };
}
