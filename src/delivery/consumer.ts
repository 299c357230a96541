import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { AckBatch } from '../amqp/acks.js';
import { dispatch, type RouteVersion, type Settler } from './dispatch.js';
import { admitted, held } from './gates.js';

/**
 * One route's consumer: its own channel, per-consumer prefetch (never global: on quorum queues
 * that closes the connection), manual acks, and at most `concurrency` handlers at once. A route's
 * rate limit, byte budget and circuit breaker (its gates) hold deliveries here, unacked: at most
 * `prefetch`, since the broker sends no more; the rest stay in the queue.
 */
export class RouteConsumer {
  #version: RouteVersion;
  readonly #log: Logger;
  readonly #onCancelled: (consumer: RouteConsumer) => void;
  #channel: Channel | undefined;
  #settler: Settler | undefined;
  #acks: AckBatch | undefined;
  #tag: string | undefined;
  /** The channel (settler) of the last delivery: on a single-active-consumer queue, the broker
   * delivers only to the active consumer, and tells a client nothing else about it. */
  #deliveredOn: Settler | undefined;
  #running = 0;
  /** Deliveries waiting for a handler slot, each with the channel (settler) it came on: after a
   * reconnect, slots freed by the old channel's handlers go to the new channel's deliveries. */
  readonly #waiting: Array<{ msg: ConsumeMessage; settler: Settler }> = [];
  readonly #idle: Array<() => void> = [];

  constructor(version: RouteVersion, log: Logger, onCancelled: (consumer: RouteConsumer) => void) {
    this.#version = version;
    this.#log = log;
    this.#onCancelled = onCancelled;
  }

  get version(): RouteVersion {
    return this.#version;
  }

  /** Deliveries held: running in a handler or waiting for a handler slot. */
  get inFlight(): number {
    return this.#running + this.#waiting.length;
  }

  get consuming(): boolean {
    return this.#tag !== undefined && this.#settler?.open === true;
  }

  /** A delivery arrived on the consumer now running: on a single-active-consumer queue, proof that
   * it is the active one (false says nothing: standing by, or active on an empty queue). */
  get delivered(): boolean {
    return this.consuming && this.#deliveredOn === this.#settler;
  }

  /** Deliveries waiting for a handler slot or held by the route's rate limit or circuit. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Deliveries already in a handler finish with the version they started with; waiting ones are
   * started under the new one (its concurrency, rate limit and circuit). */
  swap(version: RouteVersion): void {
    const before = this.#version.gates;
    this.#version = version;
    if (before !== undefined && before !== version.gates) before.release(this.#pump);
    this.#pump();
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
    let failed = false;
    channel.on('error', (err: Error) => {
      failed = true;
      this.#log.warn({ event: 'channel_error', route: this.#version.plan.name, err: err.message });
    });
    const settler: Settler = {
      get open() {
        return state.open;
      },
      ack: (msg, sent) => acks.ack(msg, sent),
      requeue: (msg) => {
        acks.requeue(msg);
      },
    };
    channel.on('close', () => {
      // The broker closed this channel by itself (consumer_timeout, a channel error), not the
      // connection: nothing else would notice, so restart like a broker cancel.
      const lost = failed && this.#channel === channel && this.#tag !== undefined;
      state.open = false;
      if (this.#channel === channel) this.#tag = undefined;
      // Its unstarted deliveries are requeued by the broker; forget them (only them).
      for (let i = this.#waiting.length - 1; i >= 0; i--) {
        if (this.#waiting[i]!.settler === settler) this.#waiting.splice(i, 1);
      }
      if (this.#waiting.length === 0) this.#version.gates?.release(this.#pump);
      acks.discard();
      this.#notifyIdle();
      if (lost) this.#onCancelled(this);
    });
    this.#channel = channel;
    this.#acks = acks;
    this.#settler = settler;
    await channel.prefetch(this.#version.plan.prefetch, false);
    const { consumerTag } = await channel.consume(
      this.#version.plan.queue,
      (msg) => this.#onMessage(msg, settler, acks),
      {
        noAck: false,
      },
    );
    this.#tag = consumerTag;
  }

  #onMessage(msg: ConsumeMessage | null, settler: Settler, acks: AckBatch): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted or failed over).
      this.#tag = undefined;
      this.#onCancelled(this);
      return;
    }
    acks.received(msg);
    this.#deliveredOn = settler;
    const { gates, plan } = this.#version;
    if (this.#waiting.length === 0 && this.#running < plan.concurrency) {
      // Without gates (a route whose plugins did not load), nothing is asked: a free slot starts it.
      const admission = gates === undefined ? admitted : gates.admit(this.#pump, msg.content.length);
      if (admission !== held) this.#run(msg, settler, admission);
      else this.#waiting.push({ msg, settler }); // the gate calls #pump when it may admit it
      return;
    }
    this.#waiting.push({ msg, settler });
    this.#pump();
  }

  /**
   * Starts waiting deliveries, oldest first, while a handler slot is free and the route's gates
   * admit them. When a gate holds them, it calls this again once it may admit one (a token is due,
   * the circuit half-opens or closes): throttling and an open circuit never ack, nack or requeue.
   */
  readonly #pump = (): void => {
    const version = this.#version;
    const gates = version.gates;
    while (this.#running < version.plan.concurrency && this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (!next.settler.open) {
        this.#waiting.shift();
        continue;
      }
      let admission = admitted;
      if (gates !== undefined) {
        admission = gates.admit(this.#pump, next.msg.content.length);
        if (admission === held) return;
      }
      this.#waiting.shift();
      this.#run(next.msg, next.settler, admission);
    }
  };

  /** `admission` is `admitted`, or the epoch of the circuit probe this delivery is. */
  #run(msg: ConsumeMessage, settler: Settler, admission: number): void {
    this.#running++;
    // The gates that admitted it (a reload may swap the version meanwhile, never a route's gates).
    const gates = this.#version.gates;
    let done: Promise<void>;
    try {
      done = dispatch(this.#version, msg, settler, this.#log);
    } catch (err) {
      done = Promise.reject(err);
    }
    // then(), not finally(): finally() allocates two more promises per delivery.
    if (gates === undefined) {
      void done.then(this.#finished, this.#crashed);
      return;
    }
    // Every way a delivery ends settles `done`: ack, a confirmed copy, a requeue, an abandon to a
    // closed channel, a bug. Its bytes are released before the slot is offered to the next one.
    const bytes = msg.content.length;
    void done.then(
      () => {
        gates.settled(bytes, admission);
        this.#finished();
      },
      (err: unknown) => {
        gates.settled(bytes, admission);
        this.#crashed(err);
      },
    );
  }

  /** A slot is free: the next waiting delivery whose channel is still open may get it. */
  readonly #finished = (): void => {
    this.#running--;
    if (this.#waiting.length > 0) this.#pump();
    this.#notifyIdle();
  };

  /** A bug in Warren, not an outcome: the delivery stays unacked until its channel closes. */
  readonly #crashed = (err: unknown): void => {
    this.#log.error({ event: 'dispatch_bug', route: this.#version.plan.name, err }, 'dispatch failed');
    this.#finished();
  };

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
    // Not yet started (waiting for a slot, a token or the circuit): hand back now rather than run
    // them after a cancel.
    for (const { msg, settler } of this.#waiting.splice(0)) {
      if (settler.open) settler.requeue(msg);
    }
    this.#version.gates?.release(this.#pump);
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
