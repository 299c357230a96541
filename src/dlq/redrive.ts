import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { type CopyForm, publishEncodable } from '../amqp/encodable-copy.js';
import { ConfirmPublisher } from '../amqp/publisher.js';
import { WarrenError } from '../errors.js';
import { openChannel, readyMessages, type ToolChannel, takeMessages } from './channel.js';
import { redriveAnnotations, redriveCopy } from './copy.js';
import { handBack, holdReturnedPart } from './hold.js';

/** Messages taken and copied at once: confirms take a while on a quorum queue, so many wait together. */
const batch = 100;

export interface RedriveConnections {
  /** Reads and acks the DLQ. */
  consume: ChannelModel;
  /** Publishes the copies with confirms (Warren's publishing connection, or the CLI's own). */
  publish: ChannelModel;
}

export interface RedriveRequest {
  /** The dead-letter queue. */
  from: string;
  /** The route's source queue, reached through the default exchange. */
  to: string;
  /** At most this many; by default every message ready when the redrive began. */
  limit?: number;
}

export interface RedriveResult {
  from: string;
  to: string;
  /** Messages ready in the DLQ when the redrive began, capped by the limit. */
  requested: number;
  moved: number;
  /** Moved copies whose headers had to be cut to be sent (see `x-warren-dropped-headers`); only
   * present when there were some. */
  sanitized?: number;
}

/** A redrive that stopped early: `moved` messages made it; the one that failed is back in the DLQ. */
export class RedriveError extends WarrenError {
  readonly moved: number;
  readonly requested: number;

  constructor(message: string, moved: number, requested: number, cause: unknown) {
    super(cause instanceof WarrenError ? cause.code : 'WARREN_E_PUBLISH_FAILED', message, { cause });
    this.name = 'RedriveError';
    this.moved = moved;
    this.requested = requested;
  }
}

/**
 * Moves messages from a DLQ to the route's source queue, a batch at a time on one channel: take
 * the next batch (held, unacked), publish a copy of each (see `redriveCopy`) with a confirm, and
 * ack only what was confirmed, in one `multiple` ack where the confirms run unbroken. A copy that
 * fails stops the redrive; its message stays unacked, and closing the channel hands it back to the
 * head of the DLQ. Only the messages ready when the redrive began are moved: ones that fail again
 * and come back to the DLQ meanwhile queue behind them.
 */
export async function redriveQueue(
  connections: RedriveConnections,
  request: RedriveRequest,
): Promise<RedriveResult> {
  const tool = await openChannel(connections.consume);
  const channels: ToolChannel[] = [tool];
  const publisher = new ConfirmPublisher();
  publisher.attach(connections.publish);
  const { from, to } = request;
  try {
    const ready = await readyMessages(tool, from);
    const requested = Math.min(request.limit ?? ready, ready);
    let moved = 0;
    let sanitized = 0;
    let received = 0;
    for (;;) {
      const size = Math.min(batch, requested - moved);
      if (size <= 0) break;
      const taken = await takeMessages(tool, from, size);
      received += taken.count;
      const copied = await copyAll(tool, publisher, taken.messages, to);
      moved += copied.moved;
      sanitized += copied.sanitized;
      tool.held -= copied.moved;
      if (copied.failure !== undefined) {
        // The failed copies' messages go back to the head of the DLQ, which keeps its order only if
        // the rest of its returned part goes back after them (see holdReturnedPart).
        if (taken.last?.fields.redelivered && received < ready)
          channels.push(...(await holdReturnedPart(connections.consume, from, ready - received)));
        throw new RedriveError(
          `redrive from ${from} to ${to} stopped after ${moved} of ${requested} messages: ` +
            `${(copied.failure as Error).message}; the rest are still in ${from}`,
          moved,
          requested,
          copied.failure,
        );
      }
      if (taken.count < size) break; // the DLQ ran out (another client took messages meanwhile)
    }
    return { from, to, requested, moved, ...(sanitized > 0 ? { sanitized } : {}) };
  } finally {
    await handBack(connections.consume, from, channels);
    publisher.attach(undefined);
  }
}

/**
 * Publishes a copy of each message, all in flight at once, and acks each one whose copy was
 * confirmed: the unbroken run from the first in one `multiple` ack (one settle on the broker; on
 * RabbitMQ 3.10 a channel closed soon after many single acks may lose the last of them and hand
 * those messages back), any later ones singly. A message whose headers amqplib cannot encode again
 * is moved with the headers it can (see publishEncodable): left in the DLQ, it would stop every
 * redrive at the same place.
 */
async function copyAll(
  tool: ToolChannel,
  publisher: ConfirmPublisher,
  messages: ConsumeMessage[],
  to: string,
): Promise<{ moved: number; sanitized: number; failure?: unknown }> {
  const results = await Promise.allSettled(
    messages.map((msg) =>
      publishEncodable(publisher, '', to, msg.content, () => redriveCopy(msg), redriveAnnotations),
    ),
  );
  const isSanitized = (r: PromiseSettledResult<CopyForm>) => r.status === 'fulfilled' && r.value !== 'as-is';
  const firstFailed = results.findIndex((r) => r.status === 'rejected');
  const run = firstFailed === -1 ? results.length : firstFailed;
  let moved = 0;
  let sanitized = 0;
  try {
    if (run > 0) tool.channel.ack(messages[run - 1]!, true);
    moved = run;
    sanitized = results.slice(0, run).filter(isSanitized).length;
    for (let i = run + 1; i < results.length; i++) {
      if (results[i]!.status !== 'fulfilled') continue;
      tool.channel.ack(messages[i]!);
      moved++;
      if (isSanitized(results[i]!)) sanitized++;
    }
  } catch (err) {
    // The channel has gone: the broker hands these messages back to the DLQ while their copies are
    // in the source queue too (duplicates, never a loss).
    return {
      moved,
      sanitized,
      failure: new WarrenError('WARREN_E_NOT_CONNECTED', `the channel reading the DLQ closed`, {
        cause: err,
      }),
    };
  }
  const failed = results[firstFailed];
  return failed?.status === 'rejected' ? { moved, sanitized, failure: failed.reason } : { moved, sanitized };
}
