import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every Warren metric, in one registry. Only `events.ts` updates them. */
export const registry = new Registry();

export const metrics = {
  messages: new Counter({
    name: 'warren_messages_total',
    help: 'Deliveries finished, by route and outcome (ack, retry, dead_letter, drop, requeue).',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
  }),
  handlerDuration: new Histogram({
    name: 'warren_handler_duration_seconds',
    help: 'Time a target took for one delivery.',
    labelNames: ['route', 'target'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
  webhookResponses: new Counter({
    name: 'warren_webhook_responses_total',
    help: 'Webhook responses by route and status class (2xx, 3xx, 4xx, 5xx, timeout, error).',
    labelNames: ['route', 'status_class'] as const,
    registers: [registry],
  }),
  inFlight: new Gauge({
    name: 'warren_in_flight',
    help: 'Deliveries in a handler or being settled (copy published, ack sent), by route.',
    labelNames: ['route'] as const,
    registers: [registry],
  }),
  publishFailures: new Counter({
    name: 'warren_publish_failures_total',
    help: 'Confirmed publishes that failed (nack, return, timeout, closed channel), by route and purpose.',
    labelNames: ['route', 'purpose'] as const,
    registers: [registry],
  }),
  amqpConnected: new Gauge({
    name: 'warren_amqp_connected',
    help: '1 while both broker connections are open.',
    registers: [registry],
  }),
  amqpBlocked: new Gauge({
    name: 'warren_amqp_blocked',
    help: '1 while the broker blocks the publishing connection (resource alarm).',
    registers: [registry],
  }),
  routeUp: new Gauge({
    name: 'warren_route_up',
    help: '1 while the route is consuming, 0 when it failed or is stopped.',
    labelNames: ['route'] as const,
    registers: [registry],
  }),
};
