import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { Deadlines, Expiring } from '../deadlines.js';
import { WarrenError } from '../errors.js';
import { encodingProblem, retypeHeaders } from './encode.js';

export interface PublishOptions {
  /** Unroutable is a failure (basic.return), never a silent drop. */
  mandatory: boolean;
}

export interface Publisher {
  /** `properties` must be built for this call: the publisher adds its own header and flag to it. */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    options: PublishOptions,
  ): Promise<void>;
}

/** A publish waiting for its confirm; fails when none came within the confirm timeout. */
class Pending extends Expiring {
  returned?: string;

  constructor(
    readonly id: string,
    /** The channel it was published on: only that channel's close fails it. */
    readonly channel: ConfirmChannel,
    readonly resolve: () => void,
    readonly reject: (err: Error) => void,
    private readonly onExpire: (id: string) => void,
  ) {
    super();
  }

  expire(): void {
    this.onExpire(this.id);
  }
}

/** Header that lets a `basic.return` be matched to its publish; returns carry no delivery tag. */
export const publishIdHeader = 'x-warren-publish-id';

/** A dead connection never confirms: every publish gives up (and rejects) after this long. */
const confirmTimeoutMs = 10_000;

/** amqplib's default, used until the connection tells its negotiated frame size. */
const defaultFrameMax = 131_072;

function frameMaxOf(connection: ChannelModel): number {
  const tuned = (connection as unknown as { connection?: { frameMax?: number } }).connection?.frameMax;
  return typeof tuned === 'number' && tuned > 0 ? tuned : defaultFrameMax;
}

/**
 * Publishes with confirms on one confirm channel, many publishes in flight at once. Resolves only
 * when the broker confirmed the message and did not return it; rejects on nack, return, timeout
 * or a closed channel, so the caller can nack-requeue the source delivery instead of acking.
 *
 * Confirms are matched to publishes by their order on the channel, and amqplib queues a publish's
 * confirm callback before it encodes the message: a publish that throws leaves a callback behind
 * that takes the next confirm, and every later one. So a message amqplib cannot encode is refused
 * before it reaches the channel (`WARREN_E_UNENCODABLE`, the message's own fault), and any other
 * throw from `publish` retires the channel: its publishes fail (their deliveries are requeued,
 * never acked on a confirm that was not theirs) and the next publish opens a new one.
 */
export class ConfirmPublisher implements Publisher {
  #channel: ConfirmChannel | undefined;
  #opening: Promise<ConfirmChannel> | undefined;
  #connection: ChannelModel | undefined;
  readonly #pending = new Map<string, Pending>();
  readonly #deadlines = new Deadlines(confirmTimeoutMs);
  readonly #expire = (id: string): void => {
    this.#settle(id, new WarrenError('WARREN_E_PUBLISH_FAILED', `no confirm within ${confirmTimeoutMs}ms`));
  };
  #seq = 0;
  #frameMax = defaultFrameMax;

  /** Called by the session when a publishing connection opens or (with undefined) goes away. */
  attach(connection: ChannelModel | undefined): void {
    const old = this.#channel;
    this.#connection = connection;
    if (connection) this.#frameMax = frameMaxOf(connection);
    this.#channel = undefined;
    this.#opening = undefined;
    if (!connection) {
      this.#failAll('publishing connection closed');
      // A removed route's publisher on a live connection: close its channel, or it leaks.
      try {
        void old?.close().catch(() => {});
      } catch {
        // already closed with its connection
      }
    }
  }

  get ready(): boolean {
    return this.#connection !== undefined;
  }

  async publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    options: PublishOptions,
  ): Promise<void> {
    // The open channel without an await: one microtask hop less per publish.
    const channel = this.#channel ?? (await this.#ensureChannel());
    const id = `${process.pid}.${++this.#seq}`;
    // The properties are ours (every caller builds them for this publish): no copies, unless a
    // value must be retyped to be sent as it arrived.
    const headers = properties.headers ? retypeHeaders(properties.headers) : {};
    headers[publishIdHeader] = id;
    properties.headers = headers;
    properties.mandatory = options.mandatory;
    const problem = encodingProblem(exchange, routingKey, properties, this.#frameMax);
    if (problem !== undefined) throw new WarrenError('WARREN_E_UNENCODABLE', problem);
    return new Promise<void>((resolve, reject) => {
      const pending = new Pending(id, channel, resolve, reject, this.#expire);
      this.#pending.set(id, pending);
      this.#deadlines.add(pending);
      try {
        channel.publish(exchange, routingKey, content, properties, (err) => {
          const entry = this.#pending.get(id);
          if (!entry) return;
          if (err)
            this.#settle(
              id,
              new WarrenError('WARREN_E_PUBLISH_FAILED', 'broker nacked the publish', { cause: err }),
            );
          else if (entry.returned)
            this.#settle(id, new WarrenError('WARREN_E_PUBLISH_FAILED', entry.returned));
          else this.#settle(id);
        });
      } catch (err) {
        this.#retire(channel, err);
      }
    });
  }

  /**
   * A publish threw: its confirm callback may sit in amqplib's queue, and every confirm from now on
   * would settle the wrong publish. Nothing more goes to this channel; everything waiting on it
   * fails (requeued by the caller, perhaps duplicated, never acked unconfirmed), and it is closed.
   */
  #retire(channel: ConfirmChannel, err: unknown): void {
    if (this.#channel === channel) {
      this.#channel = undefined;
      this.#opening = undefined;
    }
    const cause = new WarrenError('WARREN_E_PUBLISH_FAILED', 'publish channel unusable', { cause: err });
    for (const entry of [...this.#pending.values()]) {
      if (entry.channel === channel) this.#settle(entry.id, cause);
    }
    try {
      void channel.close().catch(() => {});
    } catch {
      // already closed
    }
  }

  #settle(id: string, err?: Error): void {
    const entry = this.#pending.get(id);
    if (!entry) return;
    this.#pending.delete(id);
    this.#deadlines.remove(entry);
    if (err) entry.reject(err);
    else entry.resolve();
  }

  /** Fails the publishes waiting on `channel`, or on any channel. */
  #failAll(reason: string, channel?: ConfirmChannel): void {
    for (const entry of [...this.#pending.values()]) {
      if (channel === undefined || entry.channel === channel)
        this.#settle(entry.id, new WarrenError('WARREN_E_PUBLISH_FAILED', reason));
    }
  }

  async #ensureChannel(): Promise<ConfirmChannel> {
    if (this.#channel) return this.#channel;
    const connection = this.#connection;
    if (!connection) throw new WarrenError('WARREN_E_NOT_CONNECTED', 'no publishing connection');
    this.#opening ??= connection.createConfirmChannel().then((channel) => {
      channel.on('return', (msg) => {
        const id = msg.properties.headers?.[publishIdHeader];
        const entry = typeof id === 'string' ? this.#pending.get(id) : undefined;
        // The return arrives before the confirm's ack: remember it and fail when the ack comes.
        if (entry)
          entry.returned = `unroutable: exchange "${msg.fields.exchange}" has no binding for "${msg.fields.routingKey}"`;
      });
      channel.on('error', () => {});
      channel.on('close', () => {
        if (this.#channel === channel) {
          this.#channel = undefined;
          this.#opening = undefined;
        }
        this.#failAll('publish channel closed', channel);
      });
      this.#channel = channel;
      return channel;
    });
    try {
      return await this.#opening;
    } catch (err) {
      this.#opening = undefined;
      throw new WarrenError('WARREN_E_PUBLISH_FAILED', 'cannot open a confirm channel', { cause: err });
    }
  }
}
