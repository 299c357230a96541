import type { Logger } from 'pino';
import { redactUrl } from './log.js';
import { metrics } from './metrics.js';

/**
 * Internal events: each one writes its log line and updates its metrics together, so the two
 * never drift apart. Nothing else in Warren touches a metric.
 */

/** Labelled children cached per label set: prom-client hashes the labels on every plain call. */
const children = new Map<
  string,
  { inc(n?: number): void; dec?(n?: number): void; observe?(v: number): void }
>();
function child<T>(key: string, make: () => T): T {
  let found = children.get(key) as T | undefined;
  if (found === undefined) {
    found = make();
    children.set(key, found as never);
  }
  return found;
}

export type FinalOutcome = 'ack' | 'retry' | 'dead_letter' | 'drop' | 'requeue' | 'abandoned';

export interface DeliveryReport {
  route: string;
  target: string;
  outcome: FinalOutcome;
  seconds: number;
  id: string;
  attempt: number;
  traceId: string;
  reason?: string;
  status?: number;
}

export const events = {
  connectionChanged(log: Logger, up: boolean, url: string, err?: Error): void {
    metrics.amqpConnected.set(up ? 1 : 0);
    if (up) {
      log.info({ event: 'amqp_connected', url: redactUrl(url) }, 'connected to RabbitMQ');
    } else {
      metrics.amqpBlocked.set(0);
      log.warn(
        { event: 'amqp_disconnected', url: redactUrl(url), err: err?.message },
        'lost the RabbitMQ connection',
      );
    }
  },

  connectionClosed(log: Logger): void {
    metrics.amqpConnected.set(0);
    log.info({ event: 'amqp_closed' }, 'closed the RabbitMQ connections');
  },

  brokerUnreachable(log: Logger, url: string, err: Error | undefined, everConnected: boolean): void {
    const hint = everConnected
      ? 'reconnecting with backoff'
      : 'is RabbitMQ running? Start one locally with `rabbitmq-server -detached` or ' +
        '`docker run -d -p 5672:5672 rabbitmq:3`, or point --amqp / AMQP_URL elsewhere; retrying with backoff';
    log.error(
      { event: 'amqp_unreachable', url: redactUrl(url), err: err?.message },
      `cannot reach RabbitMQ at ${redactUrl(url)}: ${hint}`,
    );
  },

  connectionBlocked(log: Logger, blocked: boolean, reason?: string): void {
    metrics.amqpBlocked.set(blocked ? 1 : 0);
    if (blocked) log.warn({ event: 'amqp_blocked', reason }, 'broker blocked publishing (resource alarm)');
    else log.info({ event: 'amqp_unblocked' }, 'broker unblocked publishing');
  },

  deliveryStarted(route: string): void {
    child(`f\0${route}`, () => metrics.inFlight.labels({ route })).inc();
  },

  deliveryFinished(log: Logger, r: DeliveryReport): void {
    child(`f\0${r.route}`, () => metrics.inFlight.labels({ route: r.route })).dec();
    child(`m\0${r.route}\0${r.outcome}`, () =>
      metrics.messages.labels({ route: r.route, outcome: r.outcome }),
    ).inc();
    child(`d\0${r.route}\0${r.target}`, () =>
      metrics.handlerDuration.labels({ route: r.route, target: r.target }),
    ).observe(r.seconds);
    const quiet = r.outcome === 'ack' || r.outcome === 'drop';
    if (quiet && !log.isLevelEnabled('debug')) return;
    const fields = {
      event: 'delivery',
      route: r.route,
      outcome: r.outcome,
      id: r.id,
      attempt: r.attempt,
      trace_id: r.traceId,
      ms: Math.round(r.seconds * 1000),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.status ? { status: r.status } : {}),
    };
    if (quiet) log.debug(fields, 'delivered');
    else if (r.outcome === 'retry') log.info(fields, 'delivery failed; retry scheduled');
    else
      log.warn(
        fields,
        r.outcome === 'dead_letter' ? 'dead-lettered' : 'delivery not completed; broker will redeliver',
      );
  },

  publishFailed(log: Logger, route: string, purpose: 'retry' | 'dead_letter', err: Error): void {
    metrics.publishFailures.inc({ route, purpose });
    log.warn(
      { event: 'publish_failed', route, purpose, err: err.message },
      'confirmed publish failed; requeueing',
    );
  },

  webhookResponse(route: string, statusClass: string): void {
    child(`w\0${route}\0${statusClass}`, () =>
      metrics.webhookResponses.labels({ route, status_class: statusClass }),
    ).inc();
  },

  routeState(log: Logger, route: string, state: string, error?: string): void {
    metrics.routeUp.set({ route }, state === 'consuming' ? 1 : 0);
    if (error) log.error({ event: 'route_state', route, state, error }, `route ${route}: ${error}`);
    else log.info({ event: 'route_state', route, state }, `route ${route} ${state}`);
  },

  consumerCancelled(log: Logger, route: string, queue: string): void {
    log.warn(
      { event: 'consumer_cancelled', route, queue },
      `broker cancelled the consumer of ${queue} (queue deleted?); re-declaring and re-subscribing`,
    );
  },

  entityFailed(log: Logger, entity: string, error: string): void {
    log.error({ event: 'declare_failed', entity, error }, error);
  },
};
