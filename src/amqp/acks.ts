import type { Channel, ConsumeMessage } from 'amqplib';

interface Held {
  msg: ConsumeMessage;
  /** Set once the ack was asked for: learns whether the ack left (false: the channel refused it). */
  sent: ((ok: boolean) => void) | undefined;
}

/**
 * One consumer channel's acks, coalesced. The acks asked for during one turn of the event loop
 * go out together at its end: one `multiple` ack for the run of settled deliveries that starts at
 * the oldest delivery, single acks for the rest. A frame per ack was a socket write per message
 * for Warren and a frame per message for the broker; deliveries finish nearly in order, so most
 * turns need one frame.
 *
 * A `multiple` ack settles every delivery at or below its tag that the broker still holds, so it
 * may only reach over deliveries that are acked or already handed back: never over one a handler
 * still runs, one waiting for a slot, or one abandoned to the channel close.
 */
export class AckBatch {
  readonly #channel: Channel;
  /** Sends one frame; false when the channel refused it (its connection is closing). */
  readonly #send: (frame: () => void) => boolean;
  /**
   * Deliveries not yet settled, by tag (a channel numbers its deliveries 1, 2, …). A tag leaves
   * when its ack or nack is sent, so this never outgrows the prefetch, even past a delivery that
   * is never settled.
   */
  readonly #held = new Map<number, Held>();
  /** No tag below this one is held. */
  #oldest = 1;
  #newest = 0;
  readonly #asked: Held[] = [];
  #flushing: NodeJS.Immediate | undefined;

  constructor(channel: Channel, send: (frame: () => void) => boolean) {
    this.#channel = channel;
    this.#send = send;
  }

  /** Every delivery of the channel, in the order it arrived, before anything settles it. */
  received(msg: ConsumeMessage): void {
    const tag = msg.fields.deliveryTag;
    this.#held.set(tag, { msg, sent: undefined });
    if (tag > this.#newest) this.#newest = tag;
  }

  /** Asks for the ack, sent at the end of this turn; `sent` learns whether it left. */
  ack(msg: ConsumeMessage, sent: (ok: boolean) => void): void {
    const held = this.#held.get(msg.fields.deliveryTag);
    // Settled already: a second ack of a tag would close the channel.
    if (held === undefined || held.sent !== undefined) {
      sent(false);
      return;
    }
    held.sent = sent;
    this.#asked.push(held);
    this.#flushing ??= setImmediate(this.flush);
  }

  /** Requeues at once: a `multiple` ack sent later must find the delivery no longer held. */
  requeue(msg: ConsumeMessage): boolean {
    const held = this.#held.get(msg.fields.deliveryTag);
    if (held === undefined || held.sent !== undefined) return false;
    this.#held.delete(msg.fields.deliveryTag);
    return this.#send(() => this.#channel.nack(msg, false, true));
  }

  /** Sends the acks asked for so far; also called before the channel is closed on purpose. */
  readonly flush = (): void => {
    if (this.#flushing !== undefined) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    if (this.#asked.length === 0) return;
    const covered: Held[] = [];
    while (this.#oldest <= this.#newest) {
      const held = this.#held.get(this.#oldest);
      if (held !== undefined) {
        if (held.sent === undefined) break;
        covered.push(held);
        this.#held.delete(this.#oldest);
      }
      this.#oldest++;
    }
    const last = covered.at(-1);
    const coveredOk = last !== undefined && this.#send(() => this.#channel.ack(last.msg, true));
    // Past the oldest unsettled delivery, one by one (what the multiple ack covered is deleted).
    const single: Array<[Held, boolean]> = [];
    for (const held of this.#asked) {
      const tag = held.msg.fields.deliveryTag;
      if (this.#held.delete(tag)) single.push([held, this.#send(() => this.#channel.ack(held.msg))]);
    }
    this.#asked.length = 0;
    // Every frame is out before anything is reported.
    for (const held of covered) held.sent!(coveredOk);
    for (const [held, ok] of single) held.sent!(ok);
  };

  /** The channel closed: the broker requeues what it still held, acks asked for included. */
  discard(): void {
    if (this.#flushing !== undefined) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    const asked = this.#asked.splice(0);
    this.#held.clear();
    for (const held of asked) held.sent!(false);
  }
}
