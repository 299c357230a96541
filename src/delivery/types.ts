import type { MessageProperties } from 'amqplib';
import type { DeliverySpan } from '../telemetry/tracing.js';

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
  /** What every next hop carries: the message's, or, while tracing is on, its consumer span's. */
  traceparent: string;
  tracestate?: string;
  route: string;
  /** Its consumer span, while tracing is on (set by dispatch): the parent of the target's spans. */
  span?: DeliverySpan;
}
