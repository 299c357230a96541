import type { Logger } from 'pino';
import { type AmqpUrl, describeTlsFailure, parseAmqpUrls, redactUrl } from '../amqp/url.js';
import type { CircuitState } from '../delivery/circuit.js';
import { observe } from './histogram.js';
import { bump, metrics, type RouteTally, tallyOf } from './metrics.js';
import { traceIdOf } from './trace.js';

/** The TLS reason a connection to the list's first broker failed, if it was TLS that failed. */
function tlsFailureOf(url: string, err: Error | undefined, node?: AmqpUrl): string | undefined {
  try {
    return describeTlsFailure(err, node ?? parseAmqpUrls(url)[0]!);
  } catch {
    return undefined;
  }
}

/** `warren_circuit_state`: 0 closed, 1 open, 2 half-open. */
const circuitStateValue: Record<CircuitState, number> = { closed: 0, open: 1, 'half-open': 2 };

/**
 * Internal events: each one writes its log line and updates its metrics together, so the two
 * never drift apart. Nothing else in Warren touches a metric.
 */

/** How far ahead of Warren's clock a publisher's may run before its timestamps are ignored. */
const clockSkewSeconds = 5;

/**
 * `warren_message_age_seconds`: now − the AMQP timestamp. A timestamp of 0 or less, or one further
 * ahead than clock skew explains (milliseconds taken for seconds, a wrong clock), says nothing about
 * the wait and is not counted; one slightly ahead counts as no wait.
 */
function observeAge(tally: RouteTally, route: string, timestamp: number): void {
  const age = Date.now() / 1000 - timestamp;
  if (!(timestamp > 0) || !(age >= -clockSkewSeconds)) return;
  tally.messageAge ??= metrics.messageAge.series({ route });
  observe(tally.messageAge, Math.max(age, 0));
}

/** `invalid`: dead-lettered because the body broke the route's `schema:`. */
export type FinalOutcome =
  | 'ack'
  | 'retry'
  | 'dead_letter'
  | 'invalid'
  | 'drop'
  | 'filtered'
  | 'requeue'
  | 'abandoned';

export interface DeliveryReport {
  route: string;
  target: string;
  outcome: FinalOutcome;
  seconds: number;
  id: string;
  attempt: number;
  traceparent: string;
  reason: string | undefined;
  status: number | undefined;
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

  /**
   * The node both connections are open to now (`host:port`, never a password), or none. A node
   * other than the one before is a failover, said once when it is done rather than per attempt.
   */
  nodeInUse(log: Logger, node: string | undefined, previous: string | undefined): void {
    metrics.amqpNode.reset();
    if (node === undefined) return;
    metrics.amqpNode.set({ node }, 1);
    if (previous !== undefined && previous !== node) {
      log.warn(
        { event: 'amqp_failover', from: previous, to: node },
        `failed over from RabbitMQ node ${previous} to ${node}`,
      );
    }
  },

  connectionClosed(log: Logger): void {
    metrics.amqpConnected.set(0);
    log.info({ event: 'amqp_closed' }, 'closed the RabbitMQ connections');
  },

  /** `node`: the node `err` came from, when `url` lists several (its TLS failure names that one). */
  brokerUnreachable(
    log: Logger,
    url: string,
    err: Error | undefined,
    everConnected: boolean,
    node?: AmqpUrl,
  ): void {
    // A broker that answers and refuses the login is running: asking whether it is misleads.
    const refused = /ACCESS_REFUSED|\b403\b/.test(err?.message ?? '');
    // So is one whose certificate Warren refused (or which refused Warren's): say which and why.
    const tls = tlsFailureOf(url, err, node);
    const hint = tls
      ? `${tls}; retrying with backoff`
      : refused
        ? 'RabbitMQ refused the login: check the user, password and vhost in --amqp / AMQP_URL; retrying with backoff'
        : everConnected
          ? 'reconnecting with backoff'
          : 'is RabbitMQ running? Start one locally with `rabbitmq-server -detached` or ' +
            '`docker run -d -p 5672:5672 rabbitmq:3`, or point --amqp / AMQP_URL elsewhere; retrying with backoff';
    log.error(
      { event: 'amqp_unreachable', url: redactUrl(url), err: err?.message, ...(tls ? { tls } : {}) },
      `${refused ? 'cannot log in to' : 'cannot reach'} RabbitMQ at ${redactUrl(url)}: ${hint}`,
    );
  },

  connectionBlocked(log: Logger, blocked: boolean, reason?: string): void {
    metrics.amqpBlocked.set(blocked ? 1 : 0);
    if (blocked) log.warn({ event: 'amqp_blocked', reason }, 'broker blocked publishing (resource alarm)');
    else log.info({ event: 'amqp_unblocked' }, 'broker unblocked publishing');
  },

  /** A delivery started; `timestamp` is the message's AMQP timestamp property (Unix seconds). */
  deliveryStarted(route: string, timestamp: number | undefined, attempt: number): void {
    const tally = tallyOf(route);
    tally.inFlight++;
    // First attempts only: a retry's age would include the backoff it waited in a delay tier.
    if (timestamp !== undefined && attempt === 1) observeAge(tally, route, timestamp);
  },

  deliveryFinished(log: Logger, r: DeliveryReport): void {
    const tally = tallyOf(r.route);
    tally.inFlight--;
    bump(tally.messages, r.outcome);
    let duration = tally.handlerDuration.get(r.target);
    if (duration === undefined) {
      duration = metrics.handlerDuration.series({ route: r.route, target: r.target });
      tally.handlerDuration.set(r.target, duration);
    }
    observe(duration, r.seconds);
    const quiet = r.outcome === 'ack' || r.outcome === 'drop' || r.outcome === 'filtered';
    if (quiet && !log.isLevelEnabled('debug')) return;
    const fields = {
      event: 'delivery',
      route: r.route,
      outcome: r.outcome,
      id: r.id,
      attempt: r.attempt,
      trace_id: traceIdOf(r.traceparent),
      ms: Math.round(r.seconds * 1000),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.status ? { status: r.status } : {}),
    };
    if (quiet) log.debug(fields, 'delivered');
    else if (r.outcome === 'retry') log.info(fields, 'delivery failed; retry scheduled');
    else
      log.warn(
        fields,
        r.outcome === 'dead_letter'
          ? 'dead-lettered'
          : r.outcome === 'invalid'
            ? 'dead-lettered: the body breaks its schema'
            : 'delivery not completed; broker will redeliver',
      );
  },

  publishFailed(log: Logger, route: string, purpose: 'retry' | 'dead_letter', err: Error): void {
    metrics.publishFailures.inc({ route, purpose });
    log.warn(
      { event: 'publish_failed', route, purpose, err: err.message },
      'confirmed publish failed; requeueing',
    );
  },

  /** One webhook request ended after `seconds`: a response of `statusClass`, a timeout or an error. */
  webhookResponse(route: string, statusClass: string, seconds: number): void {
    const tally = tallyOf(route);
    bump(tally.webhookResponses, statusClass);
    let duration = tally.webhookDuration.get(statusClass);
    if (duration === undefined) {
      duration = metrics.webhookRequestDuration.series({ route, status_class: statusClass });
      tally.webhookDuration.set(statusClass, duration);
    }
    observe(duration, seconds);
  },

  routeState(log: Logger, route: string, state: string, error?: string): void {
    metrics.routeUp.set({ route }, state === 'consuming' ? 1 : 0);
    if (error) log.error({ event: 'route_state', route, state, error }, `route ${route}: ${error}`);
    else log.info({ event: 'route_state', route, state }, `route ${route} ${state}`);
  },

  /** A delivery with a free handler slot found the route's token bucket empty. */
  throttleStarted(route: string): void {
    const throttled = tallyOf(route).throttled;
    throttled.since ??= performance.now();
  },

  /** The route started a delivery again, or has none left waiting for a token. */
  throttleEnded(route: string): void {
    const throttled = tallyOf(route).throttled;
    if (throttled.since === undefined) return;
    throttled.ms += performance.now() - throttled.since;
    throttled.since = undefined;
  },

  /** A delivery started with `bytes` of body, counted against the route's byte budget. */
  bytesTaken(route: string, bytes: number): void {
    tallyOf(route).inFlightBytes += bytes;
  },

  /** A delivery counted by `bytesTaken` settled. */
  bytesReleased(route: string, bytes: number): void {
    tallyOf(route).inFlightBytes -= bytes;
  },

  /** A delivery with a free handler slot (circuit closed) did not fit the route's byte budget. */
  budgetHoldStarted(route: string): void {
    const heldByBudget = tallyOf(route).heldByBudget;
    heldByBudget.since ??= performance.now();
  },

  /** The route started a delivery again, or has none left waiting for bytes. */
  budgetHoldEnded(route: string): void {
    const heldByBudget = tallyOf(route).heldByBudget;
    if (heldByBudget.since === undefined) return;
    heldByBudget.ms += performance.now() - heldByBudget.since;
    heldByBudget.since = undefined;
  },

  circuitChanged(log: Logger, route: string, from: CircuitState, to: CircuitState, detail: string): void {
    metrics.circuitState.set({ route }, circuitStateValue[to]);
    const fields = { event: 'circuit', route, from, state: to, detail };
    const text = `route ${route}: circuit ${to} (${detail})`;
    if (to === 'open') log.warn(fields, text);
    else log.info(fields, text);
  },

  /** A route got a circuit (closed), or lost it: its route was removed or `circuit: false`. */
  circuitTracked(route: string, tracked: boolean): void {
    if (tracked) metrics.circuitState.set({ route }, 0);
    else metrics.circuitState.remove({ route });
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
