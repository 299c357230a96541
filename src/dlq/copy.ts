import type { Message, Options } from 'amqplib';
import { isBrokerBookkeeping, ownHeaders } from '../amqp/headers.js';
import { originOf } from './view.js';

/** The AMQP properties a redriven message keeps (message-id and headers are handled apart). */
const keptProperties = [
  'contentType',
  'contentEncoding',
  'correlationId',
  'replyTo',
  'timestamp',
  'type',
  'appId',
  // not userId: a publish with another user's user-id is refused (406), see forwardedKeys
  'priority',
] as const;

/** Headers that describe the failed trip, not the message: dropped so the next trip starts afresh. */
function isTripBookkeeping(name: string): boolean {
  return name.startsWith('x-warren-') || isBrokerBookkeeping(name);
}

/** The headers `redriveCopy` writes itself: what a redriven copy keeps when nothing else can be sent. */
export const redriveAnnotations: ReadonlySet<string> = new Set([
  'x-warren-original-exchange',
  'x-warren-original-routing-key',
]);

/** Kept across a redrive: it says what the message lost, not what happened on one trip. */
const droppedHeaders = 'x-warren-dropped-headers';

/**
 * The copy of a DLQ message that goes back to its route's source queue: the same body and
 * properties (message-id included, so `webhook-id` does not change), the publisher's headers and
 * trace context, and `x-warren-original-exchange` / `-routing-key` so the receiver still sees where
 * it was first published. The attempt counter starts again (no `x-warren-attempt`), and the DLQ
 * annotations and the broker's dead-letter history are left behind.
 */
export function redriveCopy(msg: Message): Options.Publish {
  // By own keys: a header named `__proto__` is the table's prototype once amqplib has decoded it.
  const source = ownHeaders((msg.properties.headers ?? {}) as Record<string, unknown>);
  const headers: Record<string, unknown> = {};
  for (const name of Object.keys(source)) {
    if (!isTripBookkeeping(name) || name === droppedHeaders) headers[name] = source[name];
  }
  const origin = originOf(source);
  if (origin) {
    headers['x-warren-original-exchange'] = origin.exchange;
    headers['x-warren-original-routing-key'] = origin.routingKey;
  }
  const props: Options.Publish = { persistent: true, headers };
  if (msg.properties.messageId) props.messageId = String(msg.properties.messageId);
  for (const key of keptProperties) {
    const value = msg.properties[key];
    if (value !== undefined && value !== null) (props as Record<string, unknown>)[key] = value;
  }
  return props;
}
