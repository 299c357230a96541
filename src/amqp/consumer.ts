import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { dispatch, type RouteRuntime, type Settler } from '../delivery/dispatch.js';

/**
 * One route's consumer: its own channel, per-consumer prefetch (never global: on quorum queues
 * that closes the connection), manual acks, and at most `concurrency` handlers at once.
 */
export class RouteConsumer {
  #runtime: RouteRuntime;
  readonly #log: Logger;
  readonly #onCancelled: () => void;
  #channel: Channel | undefined;
  #settler: Settler | undefined;
  #tag: string | undefined;
  #running = 0;
  readonly #waiting: ConsumeMessage[] = [];
  readonly #idle: Array<() => void> = [];

  constructor(runtime: RouteRuntime, log: Logger, onCancelled: () => void) {
    this.#runtime = runtime;
    this.#log = log;
    this.#onCancelled = onCancelled;
  }

  get runtime(): RouteRuntime {
    return this.#runtime;
  }

  /** Deliveries held: running in a handler or waiting for a handler slot. */
  get inFlight(): number {
    return this.#running + this.#waiting.length;
  }

  get consuming(): boolean {
    return this.#tag !== undefined && this.#settler?.open === true;
  }

  /** Deliveries already in a handler finish with the runtime they started with. */
  swap(runtime: RouteRuntime): void {
    this.#runtime = runtime;
  }

  async start(connection: ChannelModel): Promise<void> {
    const channel = await connection.createChannel();
    const state = { open: true };
    channel.on('error', (err: Error) =>
      this.#log.warn({ event: 'channel_error', route: this.#runtime.plan.name, err: err.message }),
    );
    channel.on('close', () => {
      state.open = false;
      this.#tag = undefined;
      // Unstarted deliveries of a dead channel are requeued by the broker; forget them.
      this.#waiting.length = 0;
      this.#notifyIdle();
    });
    this.#channel = channel;
    // A closing connection refuses every frame (IllegalOperationError) before its channels emit
    // 'close': the broker requeues those deliveries, so from then on the channel counts as closed.
    const send = (frame: () => void): void => {
      try {
        frame();
      } catch {
        state.open = false;
      }
    };
    this.#settler = {
      get open() {
        return state.open;
      },
      ack: (msg) => send(() => channel.ack(msg)),
      requeue: (msg) => send(() => channel.nack(msg, false, true)),
    };
    await channel.prefetch(this.#runtime.plan.prefetch, false);
    const { consumerTag } = await channel.consume(this.#runtime.plan.queue, (msg) => this.#onMessage(msg), {
      noAck: false,
    });
    this.#tag = consumerTag;
  }

  #onMessage(msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted or failed over).
      this.#tag = undefined;
      this.#onCancelled();
      return;
    }
    if (this.#running < this.#runtime.plan.concurrency) this.#run(msg);
    else this.#waiting.push(msg);
  }

  #run(msg: ConsumeMessage): void {
    const settler = this.#settler!;
    this.#running++;
    void dispatch(this.#runtime, msg, settler, this.#log).finally(() => {
      this.#running--;
      const next = settler.open ? this.#waiting.shift() : undefined;
      if (next) this.#run(next);
      else this.#notifyIdle();
    });
  }

  #notifyIdle(): void {
    if (this.#running > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /**
   * Cancel first (the broker keeps delivering until basic.cancel-ok), then let running handlers
   * finish until the deadline, then close the channel: whatever is still unacked is requeued.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    const channel = this.#channel;
    if (channel && this.#tag && this.#settler?.open) {
      await channel.cancel(this.#tag).catch(() => {});
    }
    this.#tag = undefined;
    // Not yet started: hand back now rather than run them after a cancel.
    for (const msg of this.#waiting.splice(0)) {
      if (this.#settler?.open) this.#settler.requeue(msg);
    }
    if (this.#running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, deadlineMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const unfinished = this.#running;
    if (channel && this.#settler?.open) await channel.close().catch(() => {});
    return { unfinished };
  }
}
