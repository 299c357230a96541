import type { Logger } from 'pino';
import { ConfirmPublisher } from '../amqp/publisher.js';
import type { Connections } from '../amqp/session.js';
import type { SchemaSet } from '../contracts/compile.js';
import { RouteConsumer } from '../delivery/consumer.js';
import type { RouteVersion } from '../delivery/dispatch.js';
import { RouteGates } from '../delivery/gates.js';
import { retry } from '../delivery/outcome.js';
import type { WarrenError } from '../errors.js';
import type { SandboxSource } from '../targets/handler.js';
import { events } from '../telemetry/events.js';
import { reloadEvents } from '../telemetry/reload-events.js';
import { declareRoute } from '../topology/declare.js';
import type { RoutePlan } from '../topology/plan.js';
import type { RouteEntry } from './entry.js';
import { asWarrenError, createRouteVersion } from './route-version.js';

/** What the route table needs from the runtime that owns the broker session. */
export interface RouteTableHost {
  log: Logger;
  /** How long an old consumer may take to finish its deliveries. */
  drainTimeoutMs: number;
  /** The connections open now; work begun on other (older) ones is dropped. */
  current(): Connections | undefined;
  /** True once the runtime began to stop. */
  stopping(): boolean;
  /** Runs work in turn with reloads and re-applies. */
  serialise(work: () => Promise<void>): Promise<void>;
  /** The sandbox of a plugin, from the sources of every configuration loaded. */
  sandbox: SandboxSource;
  /** The compiled schemas directory of a hash, from every configuration loaded. */
  schemas: (hash: string) => SchemaSet;
  /** The interpolated values of every configuration loaded. */
  secrets: () => readonly string[];
}

const cancelledRetryMs = 1_000;

/**
 * The running routes, each with its consumer, confirm publisher and gates: starting them on a
 * connection (and again after the broker cancelled a consumer), draining old consumers, pause and
 * resume, stop. What a reload changes in a route is decided in ./apply.ts.
 */
export class RouteTable {
  readonly log: Logger;
  readonly #host: RouteTableHost;
  readonly #routes = new Map<string, RouteEntry>();
  readonly #publishers = new Map<string, ConfirmPublisher>();
  /** Old consumers finishing their deliveries after a reload; stop() waits for them. */
  readonly #draining = new Set<Promise<unknown>>();

  constructor(host: RouteTableHost) {
    this.#host = host;
    this.log = host.log;
  }

  get(name: string): RouteEntry | undefined {
    return this.#routes.get(name);
  }

  values(): IterableIterator<RouteEntry> {
    return this.#routes.values();
  }

  /** A new entry for the route, in the table and waiting; it has no consumer yet. */
  add(plan: RoutePlan): RouteEntry {
    const entry = { plan, state: 'waiting', gates: new RouteGates(plan.name, this.log) } as RouteEntry;
    this.#routes.set(plan.name, entry);
    return entry;
  }

  /** The broker connection dropped: publishes wait, consuming routes wait for the next one. */
  disconnected(): void {
    for (const publisher of this.#publishers.values()) publisher.attach(undefined);
    for (const entry of this.#routes.values()) if (!entry.paused) this.#setState(entry, 'waiting');
  }

  /** On a new connection: publishers use it, every route is declared and started on it. */
  async startAll(connections: Connections, failedExchanges: Map<string, WarrenError>): Promise<void> {
    for (const publisher of this.#publishers.values()) publisher.attach(connections.publish);
    await Promise.all(
      [...this.#routes.values()].map((entry) => this.start(entry, connections, failedExchanges)),
    );
  }

  #publisherFor(route: string): ConfirmPublisher {
    let publisher = this.#publishers.get(route);
    if (!publisher) {
      publisher = new ConfirmPublisher();
      publisher.attach(this.#host.current()?.publish);
      this.#publishers.set(route, publisher);
    }
    return publisher;
  }

  /** Handler and publisher for a route version; fails with WARREN_E_PLUGIN_FAILED. */
  versionFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteVersion> {
    return createRouteVersion(plan, this.#publisherFor(plan.name), entry.gates, this.#host);
  }

  /** A consumer (not started) for a route version; fails like `versionFor`. */
  async consumerFor(entry: RouteEntry, plan: RoutePlan): Promise<RouteConsumer> {
    return this.#consumerWith(await this.versionFor(entry, plan));
  }

  #consumerWith(version: RouteVersion): RouteConsumer {
    return new RouteConsumer(version, this.log, (consumer) => this.#onCancelled(version.plan.name, consumer));
  }

  /** An entry whose plugins did not load: it is not started; each (re)start tries to load them again. */
  broken(entry: RouteEntry, plan: RoutePlan, err: unknown): WarrenError {
    const error = asWarrenError(err, plan.name);
    const publisher = this.#publisherFor(plan.name);
    const unusable = async () => retry(error.message);
    entry.plan = plan;
    entry.pending = undefined;
    entry.broken = true;
    entry.gates.configure(plan);
    entry.consumer = new RouteConsumer({ plan, publisher, handler: unusable }, this.log, () => {});
    this.#setState(entry, 'failed', error);
    return error;
  }

  /** Cancel, drain and close; the queue and its messages stay (a reload never deletes them). */
  remove(name: string): void {
    const entry = this.#routes.get(name);
    if (!entry) return;
    this.#routes.delete(name);
    const publisher = this.#publishers.get(name);
    this.#publishers.delete(name);
    events.routeState(this.log, name, 'stopped');
    void this.drain(name, entry.consumer, 'route removed', () => {
      publisher?.attach(undefined);
      // A route of the same name added since has its own gates and circuit metric.
      entry.gates.dispose(!this.#routes.has(name));
    });
  }

  /** Cancels and drains a consumer in the background (stop() waits for it); resolves with the
   * deliveries still unfinished at the deadline. */
  drain(route: string, consumer: RouteConsumer, reason: string, then?: () => void): Promise<number> {
    const drained = consumer.stop(this.#host.drainTimeoutMs).then(({ unfinished }) => {
      reloadEvents.drained(this.log, route, unfinished, reason);
      then?.();
      return unfinished;
    });
    this.#draining.add(drained);
    void drained.finally(() => this.#draining.delete(drained));
    return drained;
  }

  /** Declares the entry's route and starts its consumer on `connections`, if still current. */
  async start(
    entry: RouteEntry,
    connections: Connections,
    failedExchanges?: Map<string, WarrenError>,
  ): Promise<void> {
    if (this.#host.stopping() || this.#host.current() !== connections) return;
    // A reload queued before a reconnect may have started it on this connection already.
    if (entry.state === 'consuming' && entry.consumer.consuming) return;
    if (entry.broken && !entry.paused) {
      try {
        entry.consumer = await this.consumerFor(entry, entry.plan);
        entry.broken = false;
      } catch (err) {
        this.broken(entry, entry.plan, err);
        return;
      }
    }
    this.#setState(entry, 'declaring');
    try {
      await declareRoute(connections.consume, entry.plan, failedExchanges);
      // Paused: declared and bound (its messages gather in the queue), not consumed.
      if (entry.paused) {
        this.#setState(entry, 'paused');
        return;
      }
      await entry.consumer.start(connections.consume);
      this.#setState(entry, 'consuming');
    } catch (err) {
      if (this.#host.current() !== connections) return; // lost the connection meanwhile; retried on reconnect
      this.#setState(entry, 'failed', asWarrenError(err, entry.plan.name));
    }
  }

  #onCancelled(name: string, consumer: RouteConsumer): void {
    const entry = this.#routes.get(name);
    // An old consumer still draining after a reload or a pause is not consuming for the route:
    // leave the route alone.
    if (!entry || this.#host.stopping() || entry.consumer !== consumer || entry.paused) return;
    events.consumerCancelled(this.log, name, entry.plan.queue);
    this.#setState(entry, 'waiting');
    setTimeout(() => {
      const connections = this.#host.current();
      if (
        !connections ||
        this.#host.stopping() ||
        this.#routes.get(name) !== entry ||
        entry.consumer !== consumer
      )
        return;
      void this.#host.serialise(async () => {
        if (entry.paused || entry.consumer !== consumer) return; // paused (or resumed) meanwhile
        await entry.consumer.stop(0);
        await this.start(entry, connections);
      });
    }, cancelledRetryMs).unref();
  }

  #setState(entry: RouteEntry, state: RouteEntry['state'], error?: WarrenError): void {
    const changed = entry.state !== state || entry.error?.message !== error?.message;
    entry.state = state;
    entry.error = error;
    if (changed) events.routeState(this.log, entry.plan.name, state, error?.message);
  }

  /** Pauses a route (see `Runtime.pause`); `drained` resolves with the deliveries unfinished at the
   * drain deadline. Undefined for an unknown route. */
  pause(name: string): { changed: boolean; drained: Promise<number> } | undefined {
    const entry = this.#routes.get(name);
    if (!entry) return undefined;
    if (entry.paused) return { changed: false, drained: Promise.resolve(0) };
    entry.paused = true;
    this.#setState(entry, 'paused');
    // Drained outside the serialised section: a slow receiver must not hold up reloads.
    return { changed: true, drained: this.drain(name, entry.consumer, 'paused') };
  }

  /** Resumes a paused route: a new consumer starts (the paused one may still be draining).
   * Undefined for an unknown route. */
  async resume(name: string): Promise<{ changed: boolean } | undefined> {
    const entry = this.#routes.get(name);
    if (!entry) return undefined;
    if (!entry.paused) return { changed: false };
    entry.paused = false;
    if (!entry.broken) entry.consumer = this.#consumerWith(entry.consumer.version);
    this.#setState(entry, 'waiting');
    const connections = this.#host.current();
    if (connections) await this.start(entry, connections);
    return { changed: true };
  }

  /** Cancels every consumer and lets handlers finish up to the deadline, old versions' still
   * draining too; resolves with the deliveries of the running versions left unfinished. */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
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
    return { unfinished: results.reduce((sum, r) => sum + r.unfinished, 0) };
  }
}
