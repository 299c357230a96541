import type { Logger } from 'pino';
import { RouteConsumer } from './amqp/consumer.js';
import { ConfirmPublisher } from './amqp/publisher.js';
import { type BackoffOptions, BrokerSession, type Connections, defaultBackoff } from './amqp/session.js';
import { redact } from './config/redact.js';
import type { Config } from './config/types.js';
import { WarrenError } from './errors.js';
import { targets } from './targets/registry.js';
import type { Handler, TargetModule } from './targets/types.js';
import { closeWebhookPools } from './targets/webhook.js';
import { events } from './telemetry/events.js';
import { applyRoute, applyShared } from './topology/apply.js';
import { diffPlans } from './topology/diff.js';
import { emptyPlan, type Plan, planTopology, type RoutePlan } from './topology/plan.js';

export type RouteState = 'waiting' | 'declaring' | 'consuming' | 'failed' | 'stopped';

interface RouteEntry {
  plan: RoutePlan;
  publisher: ConfirmPublisher;
  consumer: RouteConsumer;
  state: RouteState;
  error?: WarrenError;
}

export interface RuntimeOptions {
  amqpUrl: string;
  log: Logger;
  backoff?: BackoffOptions;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

const cancelledRetryMs = 1_000;

function createHandler(route: RoutePlan, publisher: ConfirmPublisher): Handler {
  const target = targets.find((t) => t.kind === route.target.kind) as TargetModule;
  return target.create(route.target as never, { publisher });
}

/**
 * Owns the running topology: the broker session, one consumer and one confirm publisher per route.
 * Start-up applies the diff against the empty plan; every (re)connect applies the whole plan again,
 * since a new connection has no consumers.
 */
export class Runtime {
  readonly #log: Logger;
  readonly #session: BrokerSession;
  readonly #routes = new Map<string, RouteEntry>();
  #config: Config | undefined;
  #plan: Plan = emptyPlan;
  #sharedFailures: WarrenError[] = [];
  /** Applies run one at a time: a reconnect during an apply waits its turn. */
  #applying: Promise<void> = Promise.resolve();
  #stopping = false;

  constructor(options: RuntimeOptions) {
    this.#log = options.log;
    this.#session = new BrokerSession(options.amqpUrl, options.log, options.backoff ?? defaultBackoff);
    this.#session.on('up', (connections) => {
      this.#applying = this.#applying.then(() => this.#applyAll(connections));
    });
    this.#session.on('down', () => {
      for (const entry of this.#routes.values()) {
        entry.publisher.attach(undefined);
        this.#setState(entry, 'waiting');
      }
    });
  }

  get plan(): Plan {
    return this.#plan;
  }

  /** Resolves once the first apply after connecting finished (or immediately if not connected). */
  async settled(): Promise<void> {
    await this.#applying;
  }

  start(config: Config): void {
    this.#config = config;
    const plan = planTopology(config);
    const diff = diffPlans(emptyPlan, plan);
    this.#plan = plan;
    for (const route of diff.routes.add) {
      const publisher = new ConfirmPublisher();
      const runtime = { plan: route, publisher, handler: createHandler(route, publisher) };
      const consumer = new RouteConsumer(runtime, this.#log, () => this.#onCancelled(route.name));
      this.#routes.set(route.name, { plan: route, publisher, consumer, state: 'waiting' });
    }
    this.#session.start();
  }

  async #applyAll(connections: Connections): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    const shared = await applyShared(connections.consume, this.#plan).catch((err: unknown) => {
      this.#log.error({ event: 'apply_failed', err }, 'declaring shared topology failed');
      return undefined;
    });
    if (!shared) return;
    this.#sharedFailures = shared.failures;
    for (const failure of shared.failures) events.entityFailed(this.#log, 'shared', failure.message);
    for (const entry of this.#routes.values()) {
      entry.publisher.attach(connections.publish);
    }
    await Promise.all(
      [...this.#routes.values()].map((entry) => this.#startRoute(entry, connections, shared.failedExchanges)),
    );
  }

  async #startRoute(
    entry: RouteEntry,
    connections: Connections,
    failedExchanges?: Map<string, WarrenError>,
  ): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    this.#setState(entry, 'declaring');
    try {
      await applyRoute(connections.consume, entry.plan, failedExchanges);
      await entry.consumer.start(connections.consume);
      this.#setState(entry, 'consuming');
    } catch (err) {
      if (this.#session.current !== connections) return; // lost the connection meanwhile; retried on reconnect
      this.#setState(entry, 'failed', err instanceof WarrenError ? err : wrap(err, entry.plan.name));
    }
  }

  #onCancelled(name: string): void {
    const entry = this.#routes.get(name);
    if (!entry || this.#stopping) return;
    events.consumerCancelled(this.#log, name, entry.plan.queue);
    this.#setState(entry, 'waiting');
    setTimeout(() => {
      const connections = this.#session.current;
      if (connections && !this.#stopping) {
        this.#applying = this.#applying.then(async () => {
          await entry.consumer.stop(0);
          await this.#startRoute(entry, connections);
        });
      }
    }, cancelledRetryMs).unref();
  }

  #setState(entry: RouteEntry, state: RouteState, error?: WarrenError): void {
    const changed = entry.state !== state || entry.error?.message !== error?.message;
    entry.state = state;
    entry.error = error;
    if (changed) events.routeState(this.#log, entry.plan.name, state, error?.message);
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (!this.#session.connected) reasons.push('not connected to RabbitMQ');
    if (this.#session.blocked) reasons.push('RabbitMQ blocks publishing (resource alarm)');
    for (const entry of this.#routes.values()) {
      if (entry.state !== 'consuming') {
        reasons.push(
          `route ${entry.plan.name} is ${entry.state}${entry.error ? `: ${entry.error.message}` : ''}`,
        );
      }
    }
    return { ready: reasons.length === 0, reasons };
  }

  /** What `/api/routes` shows: state, errors and the route's (redacted) configuration. */
  describe(): { version: string; connected: boolean; routes: RouteDescription[]; errors: string[] } {
    const secrets = this.#config?.secrets ?? [];
    return redact(
      {
        version: this.#plan.version,
        connected: this.#session.connected,
        routes: [...this.#routes.values()].map((entry) => describeRoute(entry)),
        errors: this.#sharedFailures.map((e) => e.message),
      },
      secrets,
    );
  }

  /**
   * Graceful stop: cancel every consumer, let handlers finish up to the deadline, then close.
   * Anything still unacked when the channels close is requeued by the broker, not lost.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.#stopping = true;
    const results = await Promise.all(
      [...this.#routes.values()].map((entry) => entry.consumer.stop(deadlineMs)),
    );
    for (const entry of this.#routes.values()) this.#setState(entry, 'stopped');
    await this.#session.stop();
    await closeWebhookPools().catch(() => {});
    return { unfinished: results.reduce((sum, r) => sum + r.unfinished, 0) };
  }
}

export interface RouteDescription {
  name: string;
  state: RouteState;
  error?: { code: string; message: string };
  queue: string;
  deadLetterQueue: string;
  retryQueues: string[];
  prefetch: number;
  concurrency: number;
  inFlight: number;
  target: RoutePlan['target'];
  retry: RoutePlan['retry'];
  fingerprint: string;
  file: string;
  line: number;
}

function describeRoute(entry: RouteEntry): RouteDescription {
  const { plan } = entry;
  return {
    name: plan.name,
    state: entry.state,
    ...(entry.error ? { error: { code: entry.error.code, message: entry.error.message } } : {}),
    queue: plan.queue,
    deadLetterQueue: plan.deadLetterQueue,
    retryQueues: plan.tiers.map((t) => t.queue),
    prefetch: plan.prefetch,
    concurrency: plan.concurrency,
    inFlight: entry.consumer.inFlight,
    target: plan.target,
    retry: plan.retry,
    fingerprint: plan.fingerprint,
    file: plan.origin.file,
    line: plan.origin.line,
  };
}

function wrap(err: unknown, route: string): WarrenError {
  return new WarrenError('WARREN_E_TOPOLOGY_FAILED', `route \`${route}\`: ${(err as Error).message}`, {
    cause: err,
  });
}
