import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { WarrenError } from '../errors.js';

/** How long any one broker operation of the DLQ tools may take (open, check, consume, cancel, close). */
export const brokerTimeoutMs = 10_000;

/**
 * `work`, or a WARREN_E_NOT_CONNECTED error when the broker has not answered within `ms`. A broker
 * error becomes a WarrenError that names the step and keeps the broker's as its cause.
 */
export async function within<T>(work: Promise<T>, what: string, ms = brokerTimeoutMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new WarrenError('WARREN_E_NOT_CONNECTED', `${what}: no answer from RabbitMQ within ${ms}ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, expired]);
  } catch (err) {
    if (err instanceof WarrenError) throw err;
    // A reply code is the broker's refusal (404 no queue, 403 access); without one, a lost channel.
    const code = replyCode(err) === undefined ? 'WARREN_E_NOT_CONNECTED' : 'WARREN_E_TOPOLOGY_FAILED';
    throw new WarrenError(code, `${what}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** A channel of the DLQ tools' own: its closing hands every unacked message back to its queue. */
export interface ToolChannel {
  channel: Channel;
  /** Why the broker closed the channel, once it did. */
  readonly error: Error | undefined;
  readonly closed: boolean;
  /** Messages taken on it and not acked: what its closing hands back. */
  held: number;
  /** Closes it (idempotent, never throws): the broker requeues what it holds, in order. */
  close(): Promise<void>;
}

export async function openChannel(connection: ChannelModel): Promise<ToolChannel> {
  let channel: Channel;
  try {
    channel = await within(connection.createChannel(), 'opening a channel');
  } catch (err) {
    // Thrown at once, not rejected, when the connection has closed.
    if (err instanceof WarrenError) throw err;
    throw new WarrenError('WARREN_E_NOT_CONNECTED', `opening a channel: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const state: { error: Error | undefined; closed: boolean } = { error: undefined, closed: false };
  channel.on('error', (err: Error) => {
    state.error = err;
  });
  channel.on('close', () => {
    state.closed = true;
  });
  return {
    channel,
    get error() {
      return state.error;
    },
    get closed() {
      return state.closed;
    },
    held: 0,
    async close() {
      if (state.closed) return;
      state.closed = true;
      try {
        await within(channel.close(), 'closing a channel');
      } catch {
        // closed with its connection already: the broker requeued everything it held
      }
    },
  };
}

/** The reply code of a broker error (404 NOT_FOUND, 403 ACCESS_REFUSED…), if it is one. */
export function replyCode(err: unknown): number | undefined {
  let e: unknown = err;
  while (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'number') return code;
    e = e.cause;
  }
  return undefined;
}

/** Ready messages in `queue`. A missing queue is an error naming it (and closes the channel). */
export async function readyMessages(tool: ToolChannel, queue: string): Promise<number> {
  try {
    return (await within(tool.channel.checkQueue(queue), `checking queue ${queue}`)).messageCount;
  } catch (err) {
    if (replyCode(err) !== 404) throw err;
    throw new WarrenError('WARREN_E_TOPOLOGY_FAILED', `queue ${queue} does not exist`, { cause: err });
  }
}

/**
 * How long a consumer of the DLQ tools waits for the next message: the broker hands out what is
 * ready at once, so a pause this long means the queue has no more for it (or another consumer
 * holds the rest).
 */
export const settleMs = 1_000;

/** What a consumer was handed, all of it held unacked until the caller acks it or the channel closes. */
export interface Taken {
  messages: ConsumeMessage[];
  count: number;
  last: ConsumeMessage | undefined;
}

/**
 * Takes the next `count` messages of `queue` on `tool` without acking them: a consumer with a
 * per-consumer prefetch of exactly `count` (never global: on a quorum queue that closes the
 * connection), cancelled once it holds `count`, or when nothing more arrived for `settleMs`.
 *
 * Cancelling only with the prefetch window full matters: a message the broker is still handing
 * to a consumer when it is cancelled goes back to the *tail* of a quorum queue (RabbitMQ 3.10,
 * measured), out of order; a full window means none is on its way.
 */
export async function takeMessages(
  tool: ToolChannel,
  queue: string,
  count: number,
  keep = true,
): Promise<Taken> {
  const { channel } = tool;
  const taken: Taken = { messages: [], count: 0, last: undefined };
  await within(channel.prefetch(count, false), 'setting the prefetch');
  let done!: () => void;
  const complete = new Promise<void>((resolve) => {
    done = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  const wait = () => {
    clearTimeout(timer);
    timer = setTimeout(done, settleMs);
  };
  const onClose = () => done();
  channel.once('close', onClose);
  const { consumerTag } = await within(
    channel.consume(
      queue,
      (msg) => {
        if (msg === null) return done(); // cancelled by the broker: the queue was deleted
        taken.count++;
        tool.held++;
        taken.last = msg;
        if (keep) taken.messages.push(msg);
        if (taken.count >= count) done();
        else wait();
      },
      { noAck: false },
    ),
    `consuming ${queue}`,
  );
  if (taken.count < count) wait();
  await complete;
  clearTimeout(timer);
  channel.off('close', onClose);
  if (tool.closed) {
    throw new WarrenError('WARREN_E_NOT_CONNECTED', `the channel reading ${queue} closed`, {
      cause: tool.error,
    });
  }
  await within(channel.cancel(consumerTag), `cancelling the consumer of ${queue}`);
  return taken;
}
