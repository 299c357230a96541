import type { Logger } from 'pino';
import { type BackoffOptions, BrokerSession, type Connections, defaultBackoff } from '../amqp/session.js';
import { formatIssue } from '../config/issues.js';
import type { ValidationResult } from '../config/load.js';
import { redact } from '../config/redact.js';
import type { Config } from '../config/types.js';
import { WarrenError } from '../errors.js';
import { SandboxCache } from '../plugins/cache.js';
import { closeWebhookPools } from '../targets/webhook.js';
import { events } from '../telemetry/events.js';
import { reloadEvents } from '../telemetry/reload-events.js';
import { applyShared, unbindAll } from '../topology/declare.js';
import { bindingKey, diffPlans, planBindings } from '../topology/diff.js';
import { type BindingDecl, emptyPlan, type Plan, planTopology } from '../topology/plan.js';
import {
  type Declared,
  type PruneCandidates,
  recordDeclared,
  unusedExchanges,
  unusedQueues,
} from '../topology/prune.js';
import { applyRouteChanges } from './apply.js';
import { describeRoute, type Readiness, type RouteDescription, readinessOf } from './describe.js';
import { type ReloadReport, type RouteReloadResult, reloadResult } from './report.js';
import { RouteTable } from './table.js';

export type { PruneCandidates } from '../topology/prune.js';
export type { Readiness, RouteDescription, RouteState } from './describe.js';

export interface RuntimeOptions {
  amqpUrl: string;
  log: Logger;
  backoff?: BackoffOptions;
  /** How long an old consumer (reload) may take to finish its deliveries. Default 30 s. */
  drainTimeoutMs?: number;
}

/**
 * Owns the running topology: the broker session, and per route a consumer and a confirm publisher.
 * Start-up is a reload from the empty plan; every (re)connect applies the whole running plan again,
 * since a new connection has no consumers. Reloads and re-applies run one at a time.
 */
export class Runtime {
  readonly #log: Logger;
  readonly #session: BrokerSession;
  readonly #drainTimeoutMs: number;
  readonly #routes: RouteTable;
  readonly #sandboxes: SandboxCache;
  /** Plugin sources by absolute path, from every configuration loaded (old versions may still run). */
  readonly #pluginSources = new Map<string, string>();
  /** Exchanges, exchange bindings and standalone queues of the newest valid configuration. */
  #shared: Plan = emptyPlan;
  #secrets = new Set<string>();
  #sharedFailures: WarrenError[] = [];
  #lastReload: ReloadReport | undefined;
  /** Bindings reloads dropped while no connection was open, unbound on the next one. */
  #pendingUnbind: BindingDecl[] = [];
  /** Every queue and exchange this process declared: what a reload dropped is a prune candidate. */
  readonly #declared: Declared = { queues: new Set<string>(), exchanges: new Set<string>() };
  #applying: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(options: RuntimeOptions) {
    this.#log = options.log;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.#sandboxes = new SandboxCache(options.log);
    this.#session = new BrokerSession(options.amqpUrl, options.log, options.backoff ?? defaultBackoff);
    this.#routes = new RouteTable({
      log: options.log,
      drainTimeoutMs: this.#drainTimeoutMs,
      current: () => this.#session.current,
      stopping: () => this.#stopping,
      serialise: (work) => this.#serialise(work),
      sandbox: (ref) => this.#sandboxes.acquire(ref, this.#pluginSources.get(ref.file) ?? ''),
    });
    this.#session.on('up', (connections) => void this.#serialise(() => this.#applyAll(connections)));
    this.#session.on('down', () => this.#routes.disconnected());
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

    const results = await applyRouteChanges(this.#routes, diff.routes, connections, failedExchanges);
    // Unbind only what the running routes no longer use: a route that kept its old version keeps
    // its old bindings.
    this.#pendingUnbind.push(...diffPlans(before, this.plan).unbind);
    if (connections) await this.#unbindPending(connections);
    recordDeclared(this.#declared, this.plan);
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

  /** After a (re)connect: everything again, since the new connection has no consumers. */
  async #applyAll(connections: Connections): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    const failedExchanges = await this.#applyShared(connections);
    await this.#unbindPending(connections);
    await this.#routes.startAll(connections, failedExchanges);
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

  /**
   * Queues and exchanges this process declared that the running configuration no longer uses, with
   * each queue's ready messages and consumers. A reload never deletes them; an operator may.
   */
  async pruneCandidates(): Promise<PruneCandidates> {
    const plan = this.plan;
    const connection = this.#session.current?.consume;
    const queues: PruneCandidates['queues'] = [];
    for (const name of unusedQueues(plan, this.#declared)) {
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
    return { queues, exchanges: unusedExchanges(plan, this.#declared) };
  }

  readiness(): Readiness {
    return readinessOf(this.#session, this.#routes.values());
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
    const paused = await this.#serialise(async () => this.#routes.pause(name));
    if (!paused) return undefined;
    return { changed: paused.changed, unfinished: await paused.drained };
  }

  /** Resumes a paused route: a new consumer starts (the paused one may still be draining).
   * Undefined for an unknown route. */
  async resume(name: string): Promise<{ changed: boolean } | undefined> {
    return this.#serialise(() => this.#routes.resume(name));
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
    const stopped = await this.#routes.stop(deadlineMs);
    await this.#session.stop();
    await closeWebhookPools().catch(() => {});
    this.#sandboxes.disposeAll();
    return stopped;
  }
}
