import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel, type Options } from 'amqplib';
import type { Logger } from 'pino';
import { events } from '../telemetry/events.js';
import {
  connectOptions,
  parseAmqpUrls,
  type TlsFiles,
  type TlsSocketOptions,
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
 * Keeps two connections to one broker open. Both are needed; when either closes, both are closed,
 * `down` is emitted, and a new pair is tried with capped exponential backoff and jitter.
 */
export class BrokerSession extends EventEmitter<SessionEvents> {
  /** As given, for printing (always through redactUrl). */
  readonly #url: string;
  /** The first broker of the list: failover between several is not implemented yet. */
  readonly #target: Options.Connect;
  /** For `amqps://`: the CA, client certificate and key (`WARREN_AMQP_*`), read once at start. */
  readonly #tls: TlsSocketOptions;
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

  constructor(url: string, log: Logger, backoff: BackoffOptions = defaultBackoff, tls: TlsFiles = {}) {
    super();
    this.#url = url;
    const first = parseAmqpUrls(url)[0]!;
    this.#target = connectOptions(first);
    this.#tls = tlsSocketOptions(first, tls);
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
    }
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    let consume: ChannelModel | undefined;
    let consumeLost: Error | undefined;
    try {
      const url = this.#target;
      consume = await amqp.connect(url, {
        ...this.#tls,
        clientProperties: { connection_name: 'warren-consume' },
      });
      // Until #watch takes over, a drop of this connection while the second one opens must neither
      // crash the process (an 'error' event without a listener throws) nor go unnoticed.
      consume.on('error', () => {});
      consume.once('close', (err?: Error) => {
        consumeLost = err ?? new Error('connection closed while opening the publishing connection');
      });
      const publish = await amqp.connect(url, {
        ...this.#tls,
        clientProperties: { connection_name: 'warren-publish' },
      });
      if (this.#stopped || consumeLost) {
        await Promise.allSettled([consume.close(), publish.close()]);
        if (consumeLost) this.#scheduleReconnect(consumeLost);
        return;
      }
      this.#watch({ consume, publish });
    } catch (err) {
      if (consume) await consume.close().catch(() => {});
      if (!this.#saidUnreachable) {
        this.#saidUnreachable = true;
        events.brokerUnreachable(this.#log, this.#url, err as Error, this.#everConnected);
      }
      this.#scheduleReconnect(err as Error);
    }
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
      events.connectionChanged(this.#log, false, this.#url, err);
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
    this.#everConnected = true;
    this.#saidUnreachable = false;
    events.connectionChanged(this.#log, true, this.#url);
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
