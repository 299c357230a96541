import type { Logger } from 'pino';
import { type BackoffOptions, BrokerSession, type Connections, defaultBackoff } from '../amqp/session.js';
import type { TlsFiles } from '../amqp/url.js';
import { formatIssue } from '../config/issues.js';
import type { ValidationResult } from '../config/load.js';
import { redact, scrubberFor } from '../config/redact.js';
import type { Config } from '../config/types.js';
import { SchemaSets } from '../contracts/sets.js';
import { WarrenError } from '../errors.js';
import { SandboxCache } from '../plugins/cache.js';
import { closeWebhookPools } from '../targets/webhook.js';
import { reloadEvents } from '../telemetry/reload-events.js';
import { emptyPlan, type Plan, planTopology } from '../topology/plan.js';
import { type PruneCandidates, unusedExchanges, unusedQueues } from '../topology/prune.js';
import { applyAgain, applyReload, type Running, runningPlan } from './apply.js';
import {
  describeRoute,
  type Readiness,
  type RouteDescription,
  type RouteStatus,
  readinessOf,
  routeStatus,
} from './describe.js';
import { type ReloadReport, type RouteReloadResult, reloadResult } from './report.js';
import { RouteTable } from './table.js';

export type { PruneCandidates } from '../topology/prune.js';
export type { Readiness, RouteDescription, RouteState, RouteStatus } from './describe.js';

/** How many reload reports the runtime keeps for the status page. */
export const reloadHistory = 10;

export interface RuntimeOptions {
  amqpUrl: string;
  log: Logger;
  backoff?: BackoffOptions;
  /** The TLS files of `amqps://` (read by the CLI at start). */
  tls?: TlsFiles;
  /** How long an old consumer (reload) may take to finish its deliveries. Default 30 s. */
  drainTimeoutMs?: number;
}

/**
 * Owns the running topology: the broker session, and per route a consumer and a confirm publisher.
 * Start-up is a reload from the empty plan; every (re)connect applies the whole running plan again,
 * since a new connection has no consumers. Reloads (their loading included), re-applies, pauses,
 * resumes and consumer restarts run one at a time, in one queue.
 */
export class Runtime {
  readonly #log: Logger;
  readonly #session: BrokerSession;
  readonly #drainTimeoutMs: number;
  readonly #running: Running;
  readonly #sandboxes: SandboxCache;
  /** Plugin sources by absolute path, from every configuration loaded (old versions may still run). */
  readonly #pluginSources = new Map<string, string>();
  /** Compiled schemas directories, by content hash, of every configuration a route still uses. */
  readonly #schemaSets = new SchemaSets();
  #secrets = new Set<string>();
  #lastReload: ReloadReport | undefined;
  /** The last reports, newest first (the status page lists them); bounded, so it costs nothing. */
  #reloads: ReloadReport[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(options: RuntimeOptions) {
    this.#log = options.log;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.#sandboxes = new SandboxCache(options.log);
    this.#session = new BrokerSession(options.amqpUrl, options.log, options.backoff ?? defaultBackoff, {
      ...(options.tls ? { tls: options.tls } : {}),
    });
    const routes = new RouteTable({
      log: options.log,
      drainTimeoutMs: this.#drainTimeoutMs,
      current: () => this.#session.current,
      stopping: () => this.#stopping,
      serialise: (work) => this.#serialise(work),
      sandbox: (ref) => this.#sandboxes.acquire(ref, this.#pluginSources.get(ref.file) ?? ''),
      schemas: (hash) => this.#schemaSets.get(hash),
      secrets: () => [...this.#secrets],
    });
    this.#running = {
      routes,
      shared: emptyPlan,
      sharedFailures: [],
      pendingUnbind: [],
      declared: { queues: new Set<string>(), exchanges: new Set<string>() },
    };
    this.#session.on('up', (connections) => void this.#serialise(() => this.#applyAgain(connections)));
    this.#session.on('down', () => routes.disconnected());
  }

  /** What runs now: the shared entities of the newest valid config and each route's running version. */
  get plan(): Plan {
    return runningPlan(this.#running);
  }

  /** The open broker connections, if any: the DLQ tools (peek, redrive, gauge) run on them. */
  get connections(): Connections | undefined {
    return this.#session.current;
  }

  get lastReload(): ReloadReport | undefined {
    return this.#lastReload;
  }

  /** The last reports (at most `reloadHistory`), newest first, redacted. */
  get reloads(): ReloadReport[] {
    return this.redacted(this.#reloads);
  }

  /** Resolves once every reload and re-apply queued so far has finished. */
  async settled(): Promise<void> {
    await this.#queue;
  }

  /** The one queue: each piece of work starts once the one before it finished. */
  #serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch((err: unknown) => {
      this.#log.error({ event: 'apply_bug', err }, 'apply failed unexpectedly');
    });
    return run;
  }

  /** Adopts the first configuration and starts connecting. */
  start(config: Config): void {
    void this.reload('start', async () => ({ ok: true, config }));
    this.#session.start();
  }

  /**
   * load → validate (`load`, run in turn, so configurations apply in the order they were read) →
   * plan → diff → apply. `load` answers undefined when there is nothing new: no reload, no report.
   * An invalid configuration changes nothing. A route whose new version fails to apply keeps its
   * previous version running.
   */
  reload(
    trigger: string,
    load: () => Promise<ValidationResult | undefined>,
  ): Promise<ReloadReport | undefined> {
    return this.#serialise(async () => {
      const result = await load();
      return result && this.#reload(result, trigger);
    });
  }

  async #reload(result: ValidationResult, trigger: string): Promise<ReloadReport> {
    if (this.#stopping) throw new WarrenError('WARREN_E_NOT_CONNECTED', 'shutting down: reload refused');
    const started = performance.now();
    const previousVersion = this.#running.shared.version;
    const report = (routes: RouteReloadResult[], extra: Partial<ReloadReport> = {}): ReloadReport => {
      const done: ReloadReport = {
        at: new Date().toISOString(),
        trigger,
        result: reloadResult(routes),
        version: this.#running.shared.version,
        previousVersion,
        durationMs: Math.round(performance.now() - started),
        routes,
        ...extra,
      };
      this.#lastReload = done;
      this.#reloads = [done, ...this.#reloads.slice(0, reloadHistory - 1)];
      reloadEvents.reloaded(this.#log, done);
      return done;
    };
    if (!result.ok) return report([], { result: 'invalid', issues: result.issues.map(formatIssue) });

    const next = planTopology(result.config);
    for (const secret of result.config.secrets) this.#secrets.add(secret);
    for (const [file, source] of Object.entries(result.config.plugins)) this.#pluginSources.set(file, source);
    if (result.config.schemas) this.#schemaSets.add(result.config.schemas);
    const results = await applyReload(this.#running, next, this.#session.current);
    this.#sweepSandboxesLater();
    return report(results);
  }

  async #applyAgain(connections: Connections): Promise<void> {
    if (this.#stopping || this.#session.current !== connections) return;
    await applyAgain(this.#running, connections);
  }

  /** Sandboxes of plugin versions no route runs any more are disposed once old deliveries drained. */
  #sweepSandboxesLater(): void {
    // Serialised with reloads: a sweep in the middle of one would dispose what it just compiled.
    const sweep = async () => {
      const used = new Set<string>();
      const schemas = new Set<string>();
      for (const { plan } of this.#running.routes.values()) {
        if (plan.transform) used.add(SandboxCache.key(plan.transform));
        if (plan.target.kind === 'plugin') used.add(SandboxCache.key(plan.target.plugin));
        if (plan.schema) schemas.add(plan.schema.setHash);
        if (plan.outputSchema) schemas.add(plan.outputSchema.setHash);
      }
      if (this.#stopping) return;
      this.#sandboxes.sweep(used);
      this.#schemaSets.sweep(schemas);
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
    for (const name of unusedQueues(plan, this.#running.declared)) {
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
    return { queues, exchanges: unusedExchanges(plan, this.#running.declared) };
  }

  /** Whether both connections are open, and the node in use (`host:port`; null while disconnected). */
  connection(): { connected: boolean; node: string | null } {
    return { connected: this.#session.connected, node: this.#session.node ?? null };
  }

  /** Ready or not, and why: a reason quotes a route's error, its interpolated values blanked. */
  readiness(): Readiness {
    const readiness = readinessOf(this.#session, this.#running.routes.values());
    if (readiness.ready || this.#secrets.size === 0) return readiness;
    const blank = scrubberFor([...this.#secrets]);
    return { ...readiness, reasons: readiness.reasons.map(blank) };
  }

  /** A copy with every interpolated secret of any configuration loaded so far replaced. */
  redacted<T>(value: T): T {
    return redact(value, [...this.#secrets]);
  }

  /** What `/api/routes` shows: version, routes with state and (redacted) config, the last reload. */
  describe(): {
    version: string;
    connected: boolean;
    /** The cluster node in use (`host:port`), null while disconnected. */
    node: string | null;
    routes: RouteDescription[];
    errors: string[];
    lastReload?: ReloadReport;
  } {
    return redact(
      {
        version: this.#running.shared.version,
        connected: this.#session.connected,
        node: this.#session.node ?? null,
        routes: [...this.#running.routes.values()].map((entry) => describeRoute(entry)),
        errors: this.#running.sharedFailures.map((e) => e.message),
        ...(this.#lastReload ? { lastReload: this.#lastReload } : {}),
      },
      [...this.#secrets],
      { urls: true },
    );
  }

  /** Each route's state and what it holds, without its configuration: what the status page polls
   * (a few dozen bytes a route where `describe` gives kilobytes). Error messages are redacted. */
  status(): RouteStatus[] {
    return redact(
      [...this.#running.routes.values()].map((entry) => routeStatus(entry)),
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
    const paused = await this.#serialise(async () => this.#running.routes.pause(name));
    if (!paused) return undefined;
    return { changed: paused.changed, unfinished: await paused.drained };
  }

  /** Resumes a paused route: a new consumer starts (the paused one may still be draining).
   * Undefined for an unknown route. */
  async resume(name: string): Promise<{ changed: boolean } | undefined> {
    return this.#serialise(() => this.#running.routes.resume(name));
  }

  /**
   * Graceful stop: cancel every consumer, let handlers finish up to the deadline, then close.
   * Anything still unacked when the channels close is requeued by the broker, not lost.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.#stopping = true;
    // A reload in progress finishes first (new ones are refused), so no consumer it starts escapes
    // the drain below.
    await Promise.race([this.#queue, new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    const stopped = await this.#running.routes.stop(deadlineMs);
    await this.#session.stop();
    await closeWebhookPools().catch(() => {});
    this.#sandboxes.disposeAll();
    return stopped;
  }
}
