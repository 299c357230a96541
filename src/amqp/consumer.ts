import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { dispatch, type RouteRuntime, type Settler } from '../delivery/dispatch.js';
import { AckBatch } from './acks.js';

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
  #acks: AckBatch | undefined;
  /** Called when a delivery of the current channel finished; made once per channel. */
  #finished: (() => void) | undefined;
  #crashed: ((err: unknown) => void) | undefined;
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
    // A closing connection refuses every frame (IllegalOperationError) before its channels emit
    // 'close': the broker requeues those deliveries, so from then on the channel counts as closed.
    const send = (frame: () => void): boolean => {
      try {
        frame();
        return true;
      } catch {
        state.open = false;
        return false;
      }
    };
    const acks = new AckBatch(channel, send);
    channel.on('error', (err: Error) =>
      this.#log.warn({ event: 'channel_error', route: this.#runtime.plan.name, err: err.message }),
    );
    channel.on('close', () => {
      state.open = false;
      this.#tag = undefined;
      // Unstarted deliveries of a dead channel are requeued by the broker; forget them.
      this.#waiting.length = 0;
      acks.discard();
      this.#notifyIdle();
    });
    this.#channel = channel;
    this.#acks = acks;
    const settler: Settler = {
      get open() {
        return state.open;
      },
      ack: (msg, sent) => acks.ack(msg, sent),
      requeue: (msg) => {
        acks.requeue(msg);
      },
    };
    this.#settler = settler;
    // A freed slot goes to a waiting delivery only while that delivery's channel is open.
    const finished = (): void => {
      this.#running--;
      const next = settler.open ? this.#waiting.shift() : undefined;
      if (next) this.#run(next);
      else this.#notifyIdle();
    };
    this.#finished = finished;
    // A bug in Warren, not an outcome: the delivery stays unacked until its channel closes.
    this.#crashed = (err: unknown) => {
      this.#log.error({ event: 'dispatch_bug', route: this.#runtime.plan.name, err }, 'dispatch failed');
      finished();
    };
    await channel.prefetch(this.#runtime.plan.prefetch, false);
    const { consumerTag } = await channel.consume(
      this.#runtime.plan.queue,
      (msg) => this.#onMessage(msg, acks),
      {
        noAck: false,
      },
    );
    this.#tag = consumerTag;
  }

  #onMessage(msg: ConsumeMessage | null, acks: AckBatch): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted or failed over).
      this.#tag = undefined;
      this.#onCancelled();
      return;
    }
    acks.received(msg);
    if (this.#running < this.#runtime.plan.concurrency) this.#run(msg);
    else this.#waiting.push(msg);
  }

  #run(msg: ConsumeMessage): void {
    this.#running++;
    let done: Promise<void>;
    try {
      done = dispatch(this.#runtime, msg, this.#settler!, this.#log);
    } catch (err) {
      done = Promise.reject(err);
    }
    // then(), not finally(): finally() allocates two more promises per delivery.
    void done.then(this.#finished, this.#crashed);
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
    // Acks asked for this turn go out before the close, or the broker would requeue them.
    this.#acks?.flush();
    if (channel && this.#settler?.open) await channel.close().catch(() => {});
    return { unfinished };
  }
}
