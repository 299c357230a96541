import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel, type Options } from 'amqplib';
import type { Logger } from 'pino';
import { events } from '../telemetry/events.js';
import {
  type AmqpUrl,
  connectOptions,
  formatUrl,
  nodeName,
  parseAmqpUrls,
  type TlsFiles,
  tlsSocketOptions,
} from './url.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Full jitter, capped: the n-th wait is uniform in [0, min(max, initial·2ⁿ)], at least 50 ms. */
export function backoffDelay(attempt: number, options: BackoffOptions, random = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** attempt);
  return Math.max(50, Math.round(random() * ceiling));
}

/** Fisher–Yates: every order equally likely, so replicas given the same list spread over it. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Which node of the list to try, and whether to wait first. The order is shuffled once; a node that
 * refuses, cannot be reached or is lost hands over to the next one at once, and only a round in
 * which every node failed in a row asks the caller to back off.
 */
export class NodeRotation<T> {
  readonly nodes: readonly T[];
  #index = 0;
  #failedInRound = 0;

  constructor(nodes: readonly T[], random: () => number = Math.random) {
    if (nodes.length === 0) throw new Error('a node list cannot be empty');
    this.nodes = shuffled(nodes, random);
  }

  get current(): T {
    return this.nodes[this.#index]!;
  }

  /** The current node failed to open: true when that ends a round of failures (back off then). */
  failed(): boolean {
    this.#index = (this.#index + 1) % this.nodes.length;
    this.#failedInRound++;
    if (this.#failedInRound < this.nodes.length) return false;
    this.#failedInRound = 0;
    return true;
  }

  /** The connection to the current node was lost: the next node starts a round, the lost one ends it. */
  lost(): void {
    this.#index = (this.#index + 1) % this.nodes.length;
    this.#failedInRound = 0;
  }

  succeeded(): void {
    this.#failedInRound = 0;
  }
}

/** A node that accepts TCP but never finishes the handshake must not hold the failover. */
const connectTimeoutMs = 10_000;

export interface Connections {
  /** Consumers, acks and declarations. */
  consume: ChannelModel;
  /** Confirmed publishes: retries, dead letters, republish. Its own connection, so a
   * `connection.blocked` on publishing never stalls acks. */
  publish: ChannelModel;
}

export interface SessionEvents {
  up: [Connections];
  down: [Error | undefined];
}

/**
 * Keeps two connections to one node of the list open, both to the same node. Both are needed; when
 * either closes, both are closed, `down` is emitted, and a new pair is tried on the next node; a
 * round in which every node failed backs off (capped exponential, jitter) before the next.
 */
export class BrokerSession extends EventEmitter<SessionEvents> {
  /** As given, for printing (always through redactUrl). */
  readonly #url: string;
  readonly #nodes: NodeRotation<AmqpUrl>;
  /** The node of the last pair that opened, to tell a failover from a reconnect. */
  #lastNode: string | undefined;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  #current: Connections | undefined;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #blocked = false;
  #everConnected = false;
  /** Said once per outage: which URL fails and, before the first success, how to start a broker. */
  #saidUnreachable = false;
  /** Why each node of the current round failed to open, and which node it was. */
  #roundErrors: Array<{ err: Error; node: AmqpUrl }> = [];
  /** For `amqps://` nodes: the CA, client certificate and key (`WARREN_AMQP_*`), read once at start. */
  readonly #tls: TlsFiles;

  /** `random` shuffles the node list (tests pass their own); `tls` is for `amqps://` nodes. */
  constructor(
    url: string,
    log: Logger,
    backoff: BackoffOptions = defaultBackoff,
    options: { tls?: TlsFiles; random?: () => number } = {},
  ) {
    super();
    this.#url = url;
    this.#nodes = new NodeRotation(parseAmqpUrls(url), options.random ?? Math.random);
    this.#tls = options.tls ?? {};
    this.#log = log;
    this.#backoff = backoff;
  }

  get connected(): boolean {
    return this.#current !== undefined;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  get current(): Connections | undefined {
    return this.#current;
  }

  /** `host:port` of the node in use, undefined while disconnected. */
  get node(): string | undefined {
    return this.#current === undefined ? undefined : nodeName(this.#nodes.current);
  }

  start(): void {
    this.#stopped = false;
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const current = this.#current;
    this.#current = undefined;
    if (current) {
      await Promise.allSettled([current.consume.close(), current.publish.close()]);
      events.connectionClosed(this.#log);
      events.nodeInUse(this.#log, undefined, this.#lastNode);
    }
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    let consume: ChannelModel | undefined;
    let consumeLost: Error | undefined;
    const url: Options.Connect = connectOptions(this.#nodes.current);
    const tls = tlsSocketOptions(this.#nodes.current, this.#tls);
    try {
      consume = await amqp.connect(url, {
        ...tls,
        timeout: connectTimeoutMs,
        clientProperties: { connection_name: 'warren-consume' },
      });
      // Until #watch takes over, a drop of this connection while the second one opens must neither
      // crash the process (an 'error' event without a listener throws) nor go unnoticed.
      consume.on('error', () => {});
      consume.once('close', (err?: Error) => {
        consumeLost = err ?? new Error('connection closed while opening the publishing connection');
      });
      const publish = await amqp.connect(url, {
        ...tls,
        timeout: connectTimeoutMs,
        clientProperties: { connection_name: 'warren-publish' },
      });
      if (this.#stopped || consumeLost) {
        await Promise.allSettled([consume.close(), publish.close()]);
        if (consumeLost) this.#failed(consumeLost);
        return;
      }
      this.#watch({ consume, publish });
    } catch (err) {
      if (consume) await consume.close().catch(() => {});
      this.#failed(err as Error);
    }
  }

  /** This node did not open: the next one at once, or, after a whole round, the backoff. */
  #failed(err: Error): void {
    const node = nodeName(this.#nodes.current);
    this.#roundErrors.push({ err, node: this.#nodes.current });
    if (!this.#nodes.failed()) {
      this.#log.debug(
        { event: 'amqp_next_node', node, next: nodeName(this.#nodes.current), err: err.message },
        'trying the next RabbitMQ node',
      );
      this.#timer = setTimeout(() => void this.#connect(), 0);
      return;
    }
    // A refused login is the operator's to fix, whichever node of the round said it: name that one.
    const telling =
      this.#roundErrors.find((e) => /ACCESS_REFUSED|\b403\b/.test(e.err.message)) ??
      this.#roundErrors.at(-1)!;
    this.#roundErrors = [];
    if (!this.#saidUnreachable) {
      this.#saidUnreachable = true;
      events.brokerUnreachable(this.#log, this.#url, telling.err, this.#everConnected, telling.node);
    }
    this.#scheduleReconnect(err);
  }

  #watch(connections: Connections): void {
    const { consume, publish } = connections;
    let closed = false;
    const onClose = (err?: Error) => {
      if (closed) return;
      closed = true;
      this.#current = undefined;
      this.#blocked = false;
      void consume.close().catch(() => {});
      void publish.close().catch(() => {});
      if (this.#stopped) return;
      events.connectionChanged(this.#log, false, formatUrl(this.#nodes.current), err);
      events.nodeInUse(this.#log, undefined, this.#lastNode);
      this.#nodes.lost();
      this.emit('down', err);
      this.#scheduleReconnect(err);
    };
    for (const connection of [consume, publish]) {
      connection.on('error', () => {}); // 'close' follows with the same error
      connection.on('close', onClose);
    }
    publish.on('blocked', (reason: string) => {
      this.#blocked = true;
      events.connectionBlocked(this.#log, true, reason);
    });
    publish.on('unblocked', () => {
      this.#blocked = false;
      events.connectionBlocked(this.#log, false);
    });
    this.#current = connections;
    this.#failures = 0;
    this.#nodes.succeeded();
    this.#roundErrors = [];
    this.#everConnected = true;
    this.#saidUnreachable = false;
    events.connectionChanged(this.#log, true, formatUrl(this.#nodes.current));
    const node = nodeName(this.#nodes.current);
    events.nodeInUse(this.#log, node, this.#lastNode);
    this.#lastNode = node;
    this.emit('up', connections);
  }

  #scheduleReconnect(err: Error | undefined): void {
    if (this.#stopped) return;
    const delay = backoffDelay(this.#failures, this.#backoff);
    this.#log.debug({ event: 'amqp_reconnect', inMs: delay, err: err?.message }, 'reconnecting');
    this.#failures++;
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}
