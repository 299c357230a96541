import type { Logger } from 'pino';
import { describeRoute, type RouteDescription, type RouteEntry } from './admin/describe.js';
import { RouteConsumer } from './amqp/consumer.js';
import { ConfirmPublisher } from './amqp/publisher.js';
import { type BackoffOptions, BrokerSession, type Connections, defaultBackoff } from './amqp/session.js';
import { redact } from './config/redact.js';
import type { Config, PluginRef } from './config/types.js';
import { formatIssue, type ValidationResult } from './config/validate.js';
import type { RouteRuntime } from './delivery/dispatch.js';
import { circuitOf, isGated, RouteGates } from './delivery/gates.js';
import { retry } from './delivery/outcome.js';
import { WarrenError } from './errors.js';
import { SandboxCache } from './plugins/cache.js';
import {
  type ReloadReport,
  type RouteChange,
  type RouteReloadResult,
  reloadResult,
} from './reload-report.js';
import { createRouteHandler } from './targets/handler.js';
import type { Handler, TargetModule } from './targets/types.js';
import { closeWebhookPools } from './targets/webhook.js';
import { events } from './telemetry/events.js';
import { reloadEvents } from './telemetry/reload-events.js';
import { applyRoute, applyShared, unbindAll } from './topology/apply.js';
import { bindingKey, diffPlans, planBindings } from './topology/diff.js';
import { type BindingDecl, emptyPlan, type Plan, planTopology, type RoutePlan } from './topology/plan.js';

export type { RouteDescription, RouteState } from './admin/describe.js';

export interface RuntimeOptions {
  amqpUrl: string;
  log: Logger;
  backoff?: BackoffOptions;
  /** How long an old consumer (reload) may take to finish its deliveries. Default 30 s. */
  drainTimeoutMs?: number;
}

export interface PruneCandidates {
  queues: Array<{ name: string; messages?: number; consumers?: number }>;
  exchanges: string[];
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

const cancelledRetryMs = 1_000;

/**
 * Owns the running topology: the broker session, and per route a consumer and a confirm publisher.
 * Start-up is a reload from the empty plan; every (re)connect applies the whole running plan again,
 * since a new connection has no consumers. Reloads and re-applies run one at a time.
 */
export class Runtime {
  readonly #log: Logger;
  readonly #session: BrokerSession;
  readonly #drainTimeoutMs: number;
  readonly #routes = new Map<string, RouteEntry>();
  readonly #publishers = new Map<string, ConfirmPublisher>();
  readonly #sandboxes: SandboxCache;
  /** Plugin sources by absolute path, from every configuration loaded (old versions may still run). */
  readonly #pluginSources = new Map<string, string>();
  /** Old consumers finishing their deliveries after a reload; stop() waits for them. */
  readonly #draining = new Set<Promise<unknown>>();
  /** Exchanges, exchange bindings and standalone queues of the newest valid configuration. */
  #shared: Plan = emptyPlan;
  #secrets = new Set<string>();
  #sharedFailures: WarrenError[] = [];
  #lastReload: ReloadReport | undefined;
  /** Bindings reloads dropped while no connection was open, unbound on the next one. */
  #pendingUnbind: BindingDecl[] = [];
  /** Every queue and exchange this process declared: what a reload dropped is a prune candidate. */
  readonly #declared = { queues: new Set<string>(), exchanges: new Set<string>() };
  #applying: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(options: RuntimeOptions) {
    this.#log = options.log;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.#sandboxes = new SandboxCache(options.log);
    this.#session = new BrokerSession(options.amqpUrl, options.log, options.backoff ?? defaultBackoff);
    this.#session.on('up', (connections) => void this.#serialise(() => this.#applyAll(connections)));
    this.#session.on('down', () => {
      for (const publisher of this.#publishers.values()) publisher.attach(undefined);
      for (const entry of this.#routes.values()) if (!entry.paused) this.#setState(entry, 'waiting');
    });
  }

  /** What runs now: the shared entities of the newest valid config and each route's running version. */
  get plan(): Plan {
    return { ...this.#shared, routes: [...this.#routes.values()].map((e) => e.plan) };
  }

  /** The open broker connections, if any: the DLQ tools (peek, redrive, gauge) run on them. */
  get connections(): Connections | undefined {
    return this.#session.current;
  }

  get lastReload(): ReloadReport | undefined {
    return this.#lastReload;
  }

  /** Resolves once every reload and re-apply queued so far has finished. */
  async settled(): Promise<void> {
    await this.#applying;
  }

  #serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#applying.then(work);
    this.#applying = run.catch((err: unknown) => {
      this.#log.error({ event: 'apply_bug', err }, 'apply failed unexpectedly');
    });
    return run;
  }

  /** Adopts the first configuration and starts connecting. */
  start(config: Config): void {
    void this.reload({ ok: true, config }, 'start');
    this.#session.start();
  }

  /**
   * load → validate (done by the caller) → plan → diff → apply. An invalid configuration changes
   * nothing. A route whose new version fails to apply keeps its previous version running.
   */
  reload(result: ValidationResult, trigger: string): Promise<ReloadReport> {
    return this.#serialise(() => this.#reload(result, trigger));
  }

  async #reload(result: ValidationResult, trigger: string): Promise<ReloadReport> {
    if (this.#stopping) throw new WarrenError('WARREN_E_NOT_CONNECTED', 'shutting down: reload refused');
    const started = performance.now();
    const previousVersion = this.#shared.version;
    const report = (routes: RouteReloadResult[], extra: Partial<ReloadReport> = {}): ReloadReport => {
      const done: ReloadReport = {
        at: new Date().toISOString(),
        trigger,
        result: reloadResult(routes),
        version: this.#shared.version,
        previousVersion,
        durationMs: Math.round(performance.now() - started),
        routes,
        ...extra,
      };
      this.#lastReload = done;
      reloadEvents.reloaded(this.#log, done);
      return done;
    };
    if (!result.ok) return report([], { result: 'invalid', issues: result.issues.map(formatIssue) });

    const next = planTopology(result.config);
    const before = this.plan;
    const diff = diffPlans(before, next);
    for (const secret of result.config.secrets) this.#secrets.add(secret);
    for (const [file, source] of Object.entries(result.config.plugins)) this.#pluginSources.set(file, source);
    this.#shared = { ...next, routes: [] };
    const connections = this.#session.current;
    const failedExchanges = connections ? await this.#applyShared(connections) : new Map();

    const results: RouteReloadResult[] = [];
    const track = async (route: string, change: RouteChange, work: Promise<WarrenError | undefined>) => {
      const error = await work;
      results.push({
        route,
        change,
        ok: !error,
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      });
    };
    await Promise.all([
      ...diff.routes.add.map((plan) =>
        track(plan.name, 'added', this.#addRoute(plan, connections, failedExchanges)),
      ),
      ...diff.routes.changeHandler.map((plan) =>
        track(plan.name, 'handler', this.#changeHandler(plan, connections, failedExchanges)),
      ),
      ...diff.routes.changeSource.map((plan) =>
        track(plan.name, 'source', this.#changeSource(plan, connections, failedExchanges)),
      ),
      ...diff.routes.unchanged
        .filter((plan) => this.#routes.get(plan.name)?.state === 'failed' && connections)
        .map((plan) =>
          track(plan.name, 'retried', this.#retryRoute(plan.name, connections!, failedExchanges)),
        ),
    ]);
    for (const plan of diff.routes.remove) {
      this.#removeRoute(plan.name);
      results.push({ route: plan.name, change: 'removed', ok: true });
    }
    // Unbind only what the running routes no longer use: a route that kept its old version keeps
    // its old bindings.
    this.#pendingUnbind.push(...diffPlans(before, this.plan).unbind);
    if (connections) await this.#unbindPending(connections);
    results.sort((a, b) => a.route.localeCompare(b.route));
    this.#remember();
    this.#sweepSandboxesLater();
    return report(results);
  }

  /** Unbinds what reloads dropped (kept for the next connection when there was none), except
   * what the running plan binds again. */
  async #unbindPending(connections: Connections): Promise<void> {
    if (this.#pendingUnbind.length === 0) return;
    const stillBound = new Set(planBindings(this.plan).map(bindingKey));
    const unbind = this.#pendingUnbind.filter((b) => !stillBound.has(bindingKey(b)));
    this.#pendingUnbind = [];
    const failures = await unbindAll(connections.consume, unbind);
    for (const failure of failures) events.entityFailed(this.#log, 'unbind', failure.message);
  }

  async #applyShared(connections: Connections): Promise<Map<string, WarrenError>> {
    const shared = await applyShared(connections.consume, this.#shared).catch((err: unknown) => {
      this.#log.error({ event: 'apply_failed', err }, 'declaring shared topology failed');
      return undefined;
    });
    this.#sharedFailures = shared?.failures ?? [];
    for (const failure of this.#sharedFailures) events.entityFailed(this.#log, 'shared', failure.message);
    return shared?.failedExchanges ?? new Map();
  }

  #publisherFor(route: string): ConfirmPublisher {
    let publisher = this.#publishers.get(route);
    if (!publisher) {
      publisher = new ConfirmPublisher();
      publisher.attach(this.#session.current?.publish);
      this.#publishers.set(route, publisher);
    }
    return publisher;
  }

  /**
   * Handler and publisher for a route version; loading its plugins may fail (WARREN_E_PLUGIN_FAILED).
   * The route's gates are shared by all its versions; they take this version's policies when it
   * starts running (`RouteGates.configure`).
   */
  async #runtimeFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteRuntime> {
    const publisher = this.#publisherFor(plan.name);
    try {
      const handler = await this.#createHandler(plan, publisher, entry.gates);
      return { plan, publisher, handler, ...(isGated(plan) ? { gates: entry.gates } : {}) };
    } catch (err) {
      throw new WarrenError('WARREN_E_PLUGIN_FAILED', `route \`${plan.name}\`: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async #consumerFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteConsumer> {
    return this.#consumerWith(await this.#runtimeFor(entry, plan));
  }

  #consumerWith(runtime: RouteRuntime): RouteConsumer {
    return new RouteConsumer(runtime, this.#log, (consumer) =>
      this.#onCancelled(runtime.plan.name, consumer),
    );
  }

  #createHandler(plan: RoutePlan, publisher: ConfirmPublisher, gates: RouteGates): Promise<Handler> {
    const sandbox = (ref: PluginRef) => this.#sandboxes.acquire(ref, this.#pluginSources.get(ref.file) ?? '');
    // The circuit hears the target's outcomes, not the transform's or the filter's.
    const observed = circuitOf(plan)
      ? (module: TargetModule): TargetModule => ({
          ...module,
          create: async (spec, deps) => gates.observe(await module.create(spec as never, deps)),
        })
      : undefined;
    return createRouteHandler(plan, { publisher, sandbox }, observed);
  }

  /** An entry whose plugins did not load: it is not started; each (re)start tries to load them again. */
  #broken(entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
    const error = asWarrenError(err, plan.name);
    const publisher = this.#publisherFor(plan.name);
    const unusable = async () => retry(error.message);
    entry.plan = plan;
    entry.pending = undefined;
    entry.broken = true;
    entry.gates.configure(plan);
    entry.consumer = new RouteConsumer({ plan, publisher, handler: unusable }, this.#log, () => {});
    this.#setState(entry, 'failed', error);
    return error;
  }

  async #addRoute(
    plan: RoutePlan,
    connections: Connections | undefined,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    const entry = { plan, state: 'waiting', gates: new RouteGates(plan.name, this.#log) } as RouteEntry;
    this.#routes.set(plan.name, entry);
    return this.#install(entry, plan, connections, failedExchanges);
  }

  /** A route that is not consuming (failed, or waiting for the broker) just takes the new version. */
  async #replaceIdle(
    entry: RouteEntry,
    plan: RoutePlan,
    connections: Connections | undefined,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    // A paused route's consumer was stopped by the pause, which may still be draining it.
    if (!entry.paused) void entry.consumer.stop(0);
    return this.#install(entry, plan, connections, failedExchanges);
  }

  /** Gives the entry a consumer for `plan` and, when connected, declares and starts it. */
  async #install(
    entry: RouteEntry,
    plan: RoutePlan,
    connections: Connections | undefined,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    try {
      entry.consumer = await this.#consumerFor(entry, plan);
    } catch (err) {
      return this.#broken(entry, plan, err);
    }
    entry.plan = plan;
    entry.pending = undefined;
    entry.broken = false;
    entry.gates.configure(plan);
    if (!connections) return undefined; // declared and started on connect
    await this.#startRoute(entry, connections, failedExchanges);
    return entry.state === 'failed' ? entry.error : undefined;
  }

  /** Target, retry or concurrency changed: declare any new tier or DLQ, then swap the handler in
   * place. The consumer keeps running; deliveries already in a handler finish with the old one. */
  async #changeHandler(
    plan: RoutePlan,
    connections: Connections | undefined,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    const entry = this.#routes.get(plan.name)!;
    if (!connections || entry.state !== 'consuming') {
      return this.#replaceIdle(entry, plan, connections, failedExchanges);
    }
    let runtime: RouteRuntime;
    try {
      runtime = await this.#runtimeFor(entry, plan);
      await applyRoute(connections.consume, plan, failedExchanges);
    } catch (err) {
      return this.#keepPrevious(entry, plan, err);
    }
    // A new rate limit or circuit policy applies to the running consumer, held deliveries included.
    entry.gates.configure(plan);
    entry.consumer.swap(runtime);
    entry.plan = plan;
    entry.pending = undefined;
    return undefined;
  }

  /** Queue, bindings or prefetch changed: the new consumer starts first, then the old one is
   * cancelled and drained in the background, so no delivery waits for the reload. */
  async #changeSource(
    plan: RoutePlan,
    connections: Connections | undefined,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    const entry = this.#routes.get(plan.name)!;
    if (!connections || entry.state !== 'consuming') {
      return this.#replaceIdle(entry, plan, connections, failedExchanges);
    }
    let consumer: RouteConsumer | undefined;
    let configured = false;
    try {
      consumer = await this.#consumerFor(entry, plan);
      await applyRoute(connections.consume, plan, failedExchanges);
      // Before the new consumer's first delivery; the old one drains under the same gates.
      entry.gates.configure(plan);
      configured = true;
      await consumer.start(connections.consume);
    } catch (err) {
      void consumer?.stop(0);
      if (configured) entry.gates.configure(entry.plan);
      return this.#keepPrevious(entry, plan, err);
    }
    const old = entry.consumer;
    entry.consumer = consumer;
    entry.plan = plan;
    entry.pending = undefined;
    this.#drain(plan.name, old, 'source changed');
    return undefined;
  }

  #keepPrevious(entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
    const error = asWarrenError(err, plan.name);
    entry.pending = { plan, error };
    events.routeState(
      this.#log,
      plan.name,
      'consuming',
      `new version not applied, previous kept: ${error.message}`,
    );
    return error;
  }

  async #retryRoute(
    name: string,
    connections: Connections,
    failedExchanges: Map<string, WarrenError>,
  ): Promise<WarrenError | undefined> {
    const entry = this.#routes.get(name)!;
    await this.#startRoute(entry, connections, failedExchanges);
    return entry.state === 'failed' ? entry.error : undefined;
  }

  /** Cancel, drain and close; the queue and its messages stay (a reload never deletes them). */
  #removeRoute(name: string): void {
    const entry = this.#routes.get(name);
    if (!entry) return;
    this.#routes.delete(name);
    const publisher = this.#publishers.get(name);
    this.#publishers.delete(name);
    events.routeState(this.#log, name, 'stopped');
    void this.#drain(name, entry.consumer, 'route removed', () => {
      publisher?.attach(undefined);
      // A route of the same name added since has its own gates and circuit metric.
      entry.gates.dispose(!this.#routes.has(name));
    });
  }

  /** Cancels and drains a consumer in the background (stop() waits for it); resolves with the
   * deliveries still unfinished at the deadline. */
  #drain(route: string, consumer: RouteConsumer, reason: string, then?: () => void): Promise<number> {
    const drained = consumer.stop(this.#drainTimeoutMs).then(({ unfinished }) => {
      reloadEvents.drained(this.#log, route, unfinished, reason);
      then?.();
      return unfinished;
    });
    this.#draining.add(drained);
    void drained.finally(() => this.#draining.delete(drained));
    return drained;
  }

  /** After a (re)connect: everything again, since the new connection has no consumers. */
  async #applyAll(connections: Connections): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    const failedExchanges = await this.#applyShared(connections);
    await this.#unbindPending(connections);
    for (const publisher of this.#publishers.values()) publisher.attach(connections.publish);
    await Promise.all(
      [...this.#routes.values()].map((entry) => this.#startRoute(entry, connections, failedExchanges)),
    );
  }

  async #startRoute(
    entry: RouteEntry,
    connections: Connections,
    failedExchanges?: Map<string, WarrenError>,
  ): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    // A reload queued before a reconnect may have started it on this connection already.
    if (entry.state === 'consuming' && entry.consumer.consuming) return;
    if (entry.broken && !entry.paused) {
      try {
        entry.consumer = await this.#consumerFor(entry, entry.plan);
        entry.broken = false;
      } catch (err) {
        this.#broken(entry, entry.plan, err);
        return;
      }
    }
    this.#setState(entry, 'declaring');
    try {
      await applyRoute(connections.consume, entry.plan, failedExchanges);
      // Paused: declared and bound (its messages gather in the queue), not consumed.
      if (entry.paused) {
        this.#setState(entry, 'paused');
        return;
      }
      await entry.consumer.start(connections.consume);
      this.#setState(entry, 'consuming');
    } catch (err) {
      if (this.#session.current !== connections) return; // lost the connection meanwhile; retried on reconnect
      this.#setState(entry, 'failed', asWarrenError(err, entry.plan.name));
    }
  }

  #onCancelled(name: string, consumer: RouteConsumer): void {
    const entry = this.#routes.get(name);
    // An old consumer still draining after a reload or a pause is not consuming for the route:
    // leave the route alone.
    if (!entry || this.#stopping || entry.consumer !== consumer || entry.paused) return;
    events.consumerCancelled(this.#log, name, entry.plan.queue);
    this.#setState(entry, 'waiting');
    setTimeout(() => {
      const connections = this.#session.current;
      if (!connections || this.#stopping || this.#routes.get(name) !== entry || entry.consumer !== consumer)
        return;
      void this.#serialise(async () => {
        if (entry.paused || entry.consumer !== consumer) return; // paused (or resumed) meanwhile
        await entry.consumer.stop(0);
        await this.#startRoute(entry, connections);
      });
    }, cancelledRetryMs).unref();
  }

  #setState(entry: RouteEntry, state: RouteEntry['state'], error?: WarrenError): void {
    const changed = entry.state !== state || entry.error?.message !== error?.message;
    entry.state = state;
    entry.error = error;
    if (changed) events.routeState(this.#log, entry.plan.name, state, error?.message);
  }

  /** Sandboxes of plugin versions no route runs any more are disposed once old deliveries drained. */
  #sweepSandboxesLater(): void {
    // Serialised with reloads: a sweep in the middle of one would dispose what it just compiled.
    const sweep = async () => {
      const used = new Set<string>();
      for (const { plan } of this.#routes.values()) {
        if (plan.transform) used.add(SandboxCache.key(plan.transform));
        if (plan.target.kind === 'plugin') used.add(SandboxCache.key(plan.target.plugin));
      }
      if (!this.#stopping) this.#sandboxes.sweep(used);
    };
    setTimeout(() => void this.#serialise(sweep), this.#drainTimeoutMs).unref();
  }

  #remember(): void {
    const plan = this.plan;
    for (const x of plan.exchanges) this.#declared.exchanges.add(x.name);
    for (const q of [...plan.queues, ...plan.routes.flatMap((r) => r.queues)])
      this.#declared.queues.add(q.name);
  }

  /**
   * Queues and exchanges this process declared that the running configuration no longer uses, with
   * each queue's ready messages and consumers. A reload never deletes them; an operator may.
   */
  async pruneCandidates(): Promise<PruneCandidates> {
    const plan = this.plan;
    const used = new Set([...plan.queues, ...plan.routes.flatMap((r) => r.queues)].map((q) => q.name));
    const usedExchanges = new Set(plan.exchanges.map((x) => x.name));
    const connection = this.#session.current?.consume;
    const queues: PruneCandidates['queues'] = [];
    for (const name of [...this.#declared.queues].filter((q) => !used.has(q)).sort()) {
      if (!connection) {
        queues.push({ name });
        continue;
      }
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      try {
        const { messageCount, consumerCount } = await channel.checkQueue(name);
        queues.push({ name, messages: messageCount, consumers: consumerCount });
        await channel.close();
      } catch {
        // already deleted: no longer a candidate
      }
    }
    const exchanges = [...this.#declared.exchanges].filter((x) => !usedExchanges.has(x)).sort();
    return { queues, exchanges };
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (!this.#session.connected) reasons.push('not connected to RabbitMQ');
    if (this.#session.blocked) reasons.push('RabbitMQ blocks publishing (resource alarm)');
    for (const entry of this.#routes.values()) {
      // Deliberately paused is ready; an open circuit is too (the route still consumes, and a
      // receiver outage must not get Warren's pods restarted): see /api/routes and the metrics.
      if (entry.state !== 'consuming' && entry.state !== 'paused') {
        reasons.push(
          `route ${entry.plan.name} is ${entry.state}${entry.error ? `: ${entry.error.message}` : ''}`,
        );
      }
    }
    return { ready: reasons.length === 0, reasons };
  }

  /** A copy with every interpolated secret of any configuration loaded so far replaced. */
  redacted<T>(value: T): T {
    return redact(value, [...this.#secrets]);
  }

  /** What `/api/routes` shows: version, routes with state and (redacted) config, the last reload. */
  describe(): {
    version: string;
    connected: boolean;
    routes: RouteDescription[];
    errors: string[];
    lastReload?: ReloadReport;
  } {
    return redact(
      {
        version: this.#shared.version,
        connected: this.#session.connected,
        routes: [...this.#routes.values()].map((entry) => describeRoute(entry)),
        errors: this.#sharedFailures.map((e) => e.message),
        ...(this.#lastReload ? { lastReload: this.#lastReload } : {}),
      },
      [...this.#secrets],
    );
  }

  /**
   * Pauses a route: its consumer is cancelled (new messages stay in the queue), deliveries not yet
   * started are handed back, running ones finish and are settled (up to the drain timeout). The
   * route stays paused across reloads and reconnects, not across a restart. Resolves once drained;
   * undefined for an unknown route.
   */
  async pause(name: string): Promise<{ changed: boolean; unfinished: number } | undefined> {
    const paused = await this.#serialise(async () => {
      const entry = this.#routes.get(name);
      if (!entry) return undefined;
      if (entry.paused) return { changed: false, drained: Promise.resolve(0) };
      entry.paused = true;
      this.#setState(entry, 'paused');
      // Drained outside the serialised section: a slow receiver must not hold up reloads.
      return { changed: true, drained: this.#drain(name, entry.consumer, 'paused') };
    });
    if (!paused) return undefined;
    return { changed: paused.changed, unfinished: await paused.drained };
  }

  /** Resumes a paused route: a new consumer starts (the paused one may still be draining).
   * Undefined for an unknown route. */
  async resume(name: string): Promise<{ changed: boolean } | undefined> {
    return this.#serialise(async () => {
      const entry = this.#routes.get(name);
      if (!entry) return undefined;
      if (!entry.paused) return { changed: false };
      entry.paused = false;
      if (!entry.broken) entry.consumer = this.#consumerWith(entry.consumer.runtime);
      this.#setState(entry, 'waiting');
      const connections = this.#session.current;
      if (connections) await this.#startRoute(entry, connections);
      return { changed: true };
    });
  }

  /**
   * Graceful stop: cancel every consumer, let handlers finish up to the deadline, then close.
   * Anything still unacked when the channels close is requeued by the broker, not lost.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.#stopping = true;
    // A reload in progress finishes first (new ones are refused), so no consumer it starts escapes
    // the drain below.
    await Promise.race([this.#applying, new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    const results = await Promise.all(
      [...this.#routes.values()].map((entry) => entry.consumer.stop(deadlineMs)),
    );
    await Promise.race([
      Promise.all(this.#draining),
      new Promise((resolve) => setTimeout(resolve, deadlineMs).unref()),
    ]);
    for (const entry of this.#routes.values()) {
      this.#setState(entry, 'stopped');
      entry.gates.dispose(false); // no timer outlives the runtime
    }
    await this.#session.stop();
    await closeWebhookPools().catch(() => {});
    this.#sandboxes.disposeAll();
    return { unfinished: results.reduce((sum, r) => sum + r.unfinished, 0) };
  }
}

function asWarrenError(err: unknown, route: string): WarrenError {
  if (err instanceof WarrenError) return err;
  return new WarrenError('WARREN_E_TOPOLOGY_FAILED', `route \`${route}\`: ${(err as Error).message}`, {
    cause: err,
  });
}
