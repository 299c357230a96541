import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { WarrenError } from '../errors.js';

export interface PublishOptions {
  /** Unroutable is a failure (basic.return), never a silent drop. */
  mandatory: boolean;
  /** Give up (and reject) when no confirm arrives within this time. */
  timeoutMs?: number;
}

export interface Publisher {
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    options: PublishOptions,
  ): Promise<void>;
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  returned?: string;
}

/** Header that lets a `basic.return` be matched to its publish; returns carry no delivery tag. */
export const publishIdHeader = 'x-warren-publish-id';

const defaultTimeoutMs = 10_000;

/**
 * Publishes with confirms on one confirm channel, many publishes in flight at once. Resolves only
 * when the broker confirmed the message and did not return it; rejects on nack, return, timeout
 * or a closed channel, so the caller can nack-requeue the source delivery instead of acking.
 */
export class ConfirmPublisher implements Publisher {
  #channel: ConfirmChannel | undefined;
  #opening: Promise<ConfirmChannel> | undefined;
  #connection: ChannelModel | undefined;
  readonly #pending = new Map<string, Pending>();
  #seq = 0;

  /** Called by the session when a publishing connection opens or (with undefined) goes away. */
  attach(connection: ChannelModel | undefined): void {
    this.#connection = connection;
    this.#channel = undefined;
    this.#opening = undefined;
    if (!connection) this.#failAll('publishing connection closed');
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
    const channel = await this.#ensureChannel();
    const id = `${process.pid}.${++this.#seq}`;
    const headers = { ...properties.headers, [publishIdHeader]: id };
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
      const timer = setTimeout(() => {
        this.#settle(id, new WarrenError('WARREN_E_PUBLISH_FAILED', `no confirm within ${timeoutMs}ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      try {
        channel.publish(
          exchange,
          routingKey,
          content,
          { ...properties, headers, mandatory: options.mandatory },
          (err) => {
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
          },
        );
      } catch (err) {
        this.#settle(
          id,
          new WarrenError('WARREN_E_PUBLISH_FAILED', 'publish channel unusable', { cause: err }),
        );
      }
    });
  }

  #settle(id: string, err?: Error): void {
    const entry = this.#pending.get(id);
    if (!entry) return;
    this.#pending.delete(id);
    clearTimeout(entry.timer);
    if (err) entry.reject(err);
    else entry.resolve();
  }

  #failAll(reason: string): void {
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, new WarrenError('WARREN_E_PUBLISH_FAILED', reason));
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
        this.#failAll('publish channel closed');
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
