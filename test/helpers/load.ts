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
