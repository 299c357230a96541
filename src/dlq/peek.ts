import type { ChannelModel } from 'amqplib';
import { openChannel, readyMessages, type ToolChannel, takeMessages } from './channel.js';
import { handBack, holdReturnedPart } from './hold.js';
import { type DeadLetterView, describeDeadLetter } from './view.js';

export const peekDefaultLimit = 20;
export const peekMaxLimit = 1000;

export interface PeekResult {
  queue: string;
  /** Messages ready in the queue when the peek began. */
  total: number;
  messages: DeadLetterView[];
}

/**
 * The first `limit` messages of a queue, left where they are, in their order. They are consumed
 * with a per-consumer prefetch of exactly as many as there are to take and never acked; closing the
 * channel hands them back to the head of the queue (see `takeMessages`, and `holdReturnedPart` for
 * when that needs more than one channel). Each
 * comes back with `redelivered` set and `x-delivery-count` one higher: harmless on a DLQ, which has
 * no delivery limit. Neither `basic.get` (a quorum queue hands those back shuffled) nor a
 * `basic.nack` with requeue (to the back of the queue) is used.
 */
export async function peekQueue(connection: ChannelModel, queue: string, limit: number): Promise<PeekResult> {
  const tool = await openChannel(connection);
  const channels: ToolChannel[] = [tool];
  try {
    const total = await readyMessages(tool, queue);
    const wanted = Math.min(limit, total);
    if (wanted === 0) return { queue, total, messages: [] };
    const taken = await takeMessages(tool, queue, wanted);
    if (taken.last?.fields.redelivered && taken.count < total)
      channels.push(...(await holdReturnedPart(connection, queue, total - taken.count)));
    return { queue, total, messages: taken.messages.map((msg, i) => describeDeadLetter(msg, i + 1)) };
  } finally {
    await handBack(connection, queue, channels);
  }
}
