import type { ChannelModel } from 'amqplib';
import { openChannel, readyMessages, type ToolChannel, takeMessages } from './channel.js';

/** Messages one further channel holds: the most a peek or redrive takes beyond what it needs. */
const chunk = 100;

/** Further channels at most: a returned part longer than this many chunks may end up out of order. */
const maxChunks = 50;

/**
 * Handing messages back to a quorum queue keeps their order only under a condition (RabbitMQ 3.10,
 * measured; see docs/decisions.md). Such a queue serves its *returned* messages (unacked when their
 * channel closed; each comes back with `redelivered` set) before the others, and a channel close
 * appends its messages to the end of that returned part. So a tool that takes the first k messages
 * and closes its channel puts them back where they were only if the returned part held no more
 * than k; otherwise they would queue behind the rest of it (left by an earlier, longer peek).
 *
 * This holds the rest of the returned part as well: on further channels, a chunk at a time, for as
 * long as whole chunks come redelivered (or until `remaining` were seen). The caller hands back its
 * own channel first, then these in the order given (`handBack`), which rebuilds the returned part
 * in queue order.
 */
export async function holdReturnedPart(
  connection: ChannelModel,
  queue: string,
  remaining: number,
): Promise<ToolChannel[]> {
  const held: ToolChannel[] = [];
  let left = remaining;
  try {
    for (let i = 0; i < maxChunks && left > 0; i++) {
      const tool = await openChannel(connection);
      held.push(tool);
      const want = Math.min(chunk, left);
      const got = await takeMessages(tool, queue, want, false);
      left -= got.count;
      // Past the returned part (its messages come first), or nothing more to take.
      if (got.count < want || !got.last?.fields.redelivered) break;
    }
    return held;
  } catch (err) {
    await handBack(connection, queue, held);
    throw err;
  }
}

/** How long a hand-back waits for the queue to take back what a closed channel held. */
const handBackTimeoutMs = 5_000;

/**
 * Closes the channels one after the other, each once the queue has taken back what the one before
 * held. A channel's close-ok comes before its quorum queue has put all of its messages back
 * (measured on 3.10: a peek right after another could find only part of the first one's messages
 * returned, and the rest then queued behind its own), so after each close this waits until the
 * queue's ready count has grown by what that channel held, or `handBackTimeoutMs` passed (another
 * consumer may be taking messages meanwhile).
 */
export async function handBack(
  connection: ChannelModel,
  queue: string,
  channels: ToolChannel[],
): Promise<void> {
  if (channels.every((tool) => tool.held === 0)) {
    for (const tool of channels) await tool.close();
    return;
  }
  let observer: ToolChannel | undefined;
  try {
    observer = await openChannel(connection);
    let expected = await readyMessages(observer, queue);
    for (const tool of channels) {
      const held = tool.closed ? 0 : tool.held;
      await tool.close();
      expected += held;
      const deadline = performance.now() + handBackTimeoutMs;
      while (held > 0 && performance.now() < deadline && (await readyMessages(observer, queue)) < expected)
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } catch {
    // no connection or no queue any more: the broker hands everything back by itself
  } finally {
    for (const tool of channels) await tool.close();
    await observer?.close();
  }
}
