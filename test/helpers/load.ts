import type { ConfirmChannel } from 'amqplib';
import type { TestBroker } from './broker.js';

/**
 * A steady publisher of uniquely numbered messages (message-id `<prefix>-<n>`), for tests that
 * change the topology under load. Publishes with confirms, `perTick` messages every `everyMs`.
 */
export class SteadyPublisher {
  readonly published: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #n = 0;
  #running: Promise<void> = Promise.resolve();

  constructor(
    private readonly broker: TestBroker,
    private readonly exchange: string,
    private readonly routingKey: string | (() => string),
    private readonly prefix: string,
    private readonly options: { everyMs?: number; perTick?: number } = {},
  ) {}

  start(): void {
    const everyMs = this.options.everyMs ?? 10;
    const perTick = this.options.perTick ?? 2;
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(async () => {
        for (let i = 0; i < perTick; i++) {
          const id = `${this.prefix}-${++this.#n}`;
          const key = typeof this.routingKey === 'function' ? this.routingKey() : this.routingKey;
          this.broker.channel.publish(this.exchange, key, Buffer.from(JSON.stringify({ id })), {
            messageId: id,
            persistent: true,
            contentType: 'application/json',
          });
          this.published.push(id);
        }
        await this.broker.channel.waitForConfirms();
      });
    }, everyMs);
  }

  /** Stops publishing; resolves when every message is confirmed. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}

/** Ids never received (and not still waiting in a queue), and how many arrived more than once. */
export function accounting(
  published: readonly string[],
  received: readonly string[],
  stillQueued: readonly string[] = [],
): { lost: string[]; duplicates: number } {
  const seen = new Map<string, number>();
  for (const id of received) seen.set(id, (seen.get(id) ?? 0) + 1);
  const queued = new Set(stillQueued);
  const lost = published.filter((id) => !seen.has(id) && !queued.has(id));
  const duplicates = [...seen.values()].reduce((sum, n) => sum + (n - 1), 0);
  return { lost, duplicates };
}

/** Publishes with `mandatory`: a message no queue is bound for comes back and is recorded. */
export class MandatoryPublisher {
  readonly published: string[] = [];
  readonly returned = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #n = 0;
  #running: Promise<void> = Promise.resolve();

  private constructor(
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
    private readonly routingKey: string,
    private readonly prefix: string,
  ) {
    channel.on('return', (msg: { properties: { messageId?: string } }) => {
      if (msg.properties.messageId) this.returned.add(msg.properties.messageId);
    });
  }

  static async open(broker: TestBroker, exchange: string, key: string, prefix: string) {
    return new MandatoryPublisher(await broker.connection.createConfirmChannel(), exchange, key, prefix);
  }

  /** Publishes one message and says whether a queue took it. */
  async probe(id: string): Promise<boolean> {
    this.#send(id);
    await this.channel.waitForConfirms();
    return !this.returned.has(id);
  }

  start(everyMs = 10): void {
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(async () => {
        this.#send(`${this.prefix}-${++this.#n}`);
        await this.channel.waitForConfirms();
      });
    }, everyMs);
  }

  /** Published, confirmed and taken by a queue (a return precedes the confirm). */
  routed(): string[] {
    return this.published.filter((id) => !this.returned.has(id));
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.channel.close().catch(() => {});
  }

  #send(id: string): void {
    this.channel.publish(this.exchange, this.routingKey, Buffer.from(JSON.stringify({ id })), {
      messageId: id,
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
    });
    this.published.push(id);
  }
}
