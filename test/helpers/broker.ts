import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage, type Options } from 'amqplib';

export const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A name no other test (or earlier run) uses: `t.<prefix>.<random>`. */
export function uniqueName(prefix: string): string {
  return `t.${prefix}.${randomBytes(4).toString('hex')}`;
}

/** A test's own connection to the broker, for publishing, inspecting queues and cleaning up. */
export class TestBroker {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  readonly #queues = new Set<string>();
  readonly #exchanges = new Set<string>();

  private constructor(connection: ChannelModel, channel: ConfirmChannel) {
    this.connection = connection;
    this.channel = channel;
  }

  /** To the shared broker, or to `url` (one node of a test cluster). */
  static async connect(url = amqpUrl): Promise<TestBroker> {
    const connection = await amqp.connect(url);
    const channel = await connection.createConfirmChannel();
    return new TestBroker(connection, channel);
  }

  /** Remember entities to delete in `close()`. */
  track(kind: 'queue' | 'exchange', ...names: string[]): void {
    for (const name of names) (kind === 'queue' ? this.#queues : this.#exchanges).add(name);
  }

  async publish(
    exchange: string,
    routingKey: string,
    body: string | Buffer,
    options: Options.Publish = {},
  ): Promise<void> {
    this.channel.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), {
      persistent: true,
      ...options,
    });
    await this.channel.waitForConfirms();
  }

  /** Messages currently ready in a queue (a fresh channel: a missing queue throws). */
  async depth(queue: string): Promise<number> {
    const ch = await this.connection.createChannel();
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Takes every ready message out of a queue (acked: they are gone afterwards). */
  async drain(queue: string): Promise<GetMessage[]> {
    const ch = await this.connection.createChannel();
    const out: GetMessage[] = [];
    try {
      for (;;) {
        const msg = await ch.get(queue, { noAck: true });
        if (msg === false) return out;
        out.push(msg);
      }
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** A queue's consumer count, or undefined when it does not exist (own channel: a 404 closes it). */
  async consumers(queue: string): Promise<number | undefined> {
    const ch = await this.connection.createChannel();
    ch.on('error', () => {});
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } catch {
      return undefined;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Message ids ready in a queue, left in place (read without ack on a channel that then closes). */
  async peekIds(queue: string): Promise<string[]> {
    const ch = await this.connection.createChannel();
    const out: string[] = [];
    try {
      for (;;) {
        const msg = await ch.get(queue, { noAck: false });
        if (msg === false) return out;
        out.push(String(msg.properties.messageId));
      }
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const ch = await this.connection.createChannel();
    ch.on('error', () => {});
    for (const q of this.#queues) await ch.deleteQueue(q).catch(() => {});
    for (const x of this.#exchanges) await ch.deleteExchange(x).catch(() => {});
    await ch.close().catch(() => {});
    await this.connection.close().catch(() => {});
  }
}

/** Polls until `check` returns a truthy value, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
