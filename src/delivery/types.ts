import type { MessageProperties } from 'amqplib';

/** One message as a target sees it: copied out of the AMQP frame, independent of any channel. */
export interface Delivery {
  content: Buffer;
  properties: MessageProperties;
  headers: Record<string, unknown>;
  /** Where the message was first published (before any trip through a delay tier). */
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  /** 1 for the first try; carried in `x-warren-attempt` on retry copies. */
  attempt: number;
  /** Stable across retries and redeliveries: the receiver's idempotency key. */
  id: string;
  traceparent: string;
  tracestate?: string;
  route: string;
}
