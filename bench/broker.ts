import amqp, { type ChannelModel, type Options } from 'amqplib';

/** The bench's own broker connection: declares and fills queues, watches depth, cleans up. */
export class BenchBroker {
  readonly #connection: ChannelModel;
  readonly #queues = new Set<string>();

  private constructor(connection: ChannelModel) {
    this.#connection = connection;
  }

  static async connect(url: string): Promise<BenchBroker> {
    return new BenchBroker(await amqp.connect(url));
  }

  /** Remember a queue to delete in `cleanup()` (also ones other code declares). */
  track(...queues: string[]): void {
    for (const q of queues) this.#queues.add(q);
  }

  async declare(queue: string, args: Options.AssertQueue['arguments']): Promise<void> {
    this.track(queue);
    const ch = await this.#connection.createChannel();
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args });
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Publishes `count` persistent copies of `body` with confirms, `window` unconfirmed at most. */
  async fill(queue: string, count: number, body: Buffer, window: number, idPrefix: string): Promise<number> {
    const ch = await this.#connection.createConfirmChannel();
    const started = performance.now();
    try {
      await new Promise<void>((resolve, reject) => {
        let sent = 0;
        let confirmed = 0;
        let waitingDrain = false;
        let failed = false;
        const pump = (): void => {
          waitingDrain = false;
          while (!failed && sent < count && sent - confirmed < window) {
            const id = `${idPrefix}-${sent}`;
            sent++;
            const ok = ch.publish(
              '',
              queue,
              body,
              { persistent: true, messageId: id, contentType: 'application/json' },
              (err: unknown) => {
                if (err) {
                  failed = true;
                  reject(new Error(`publish to ${queue} was not confirmed`));
                  return;
                }
                confirmed++;
                if (confirmed === count) resolve();
                else if (!waitingDrain) pump();
              },
            );
            if (!ok) {
              waitingDrain = true;
              ch.once('drain', pump);
              return;
            }
          }
        };
        ch.once('error', (err: Error) => {
          failed = true;
          reject(err);
        });
        pump();
      });
    } finally {
      await ch.close().catch(() => {});
    }
    return count / ((performance.now() - started) / 1000);
  }

  /** Ready messages in a queue (unacked ones are not counted). */
  async depth(queue: string): Promise<number> {
    const ch = await this.#connection.createChannel();
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Polls until the queue has no ready message and `idle()` says the consumer holds no delivery
   * (all acked); returns the hrtime when it saw both. */
  async waitEmpty(queue: string, idle: () => boolean, timeoutMs: number): Promise<bigint> {
    const ch = await this.#connection.createChannel();
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const { messageCount } = await ch.checkQueue(queue);
        if (messageCount === 0 && idle()) return process.hrtime.bigint();
        if (Date.now() > deadline) throw new Error(`${queue} still holds ${messageCount} ready messages`);
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Deletes every tracked queue, then closes the connection. */
  async cleanup(): Promise<string[]> {
    const failed: string[] = [];
    for (const q of this.#queues) {
      // A failed delete closes its channel: one channel per queue.
      const ch = await this.#connection.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).then(
        () => ch.close().catch(() => {}),
        () => failed.push(q),
      );
    }
    this.#queues.clear();
    await this.#connection.close().catch(() => {});
    return failed;
  }
}

/** A 512-byte JSON body (the size the throughput floors were measured with). */
export function messageBody(size = 512): Buffer {
  const head = '{"event":"order.created","padding":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(size - head.length - tail.length) + tail);
}
