import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type Series, SeriesHistogram } from './histogram.js';

/**
 * Every Warren metric is defined in this file, in one registry. Only the event modules
 * (`events.ts`, `reload-events.ts`, `plugin-events.ts`) update them, and `dlq/gauge.ts` feeds the
 * DLQ depth gauge, whose samples come from the broker when /metrics is read.
 */
export const registry = new Registry();

/** A count that only grows, and how much of it prom-client has been given. */
interface Tally {
  value: number;
  reported: number;
}

/**
 * What every delivery updates, kept per route as plain numbers and handed to prom-client when
 * /metrics is read: a prom-client call hashes and validates its labels each time, which cost
 * more per message than the rest of a delivery's bookkeeping. `events.ts` updates these.
 */
export interface RouteTally {
  inFlight: number;
  /** By final outcome. */
  messages: Map<string, Tally>;
  /** By status class. */
  webhookResponses: Map<string, Tally>;
  /** By target kind. */
  handlerDuration: Map<string, Series>;
  /** By status class: one observation per webhook request. */
  webhookDuration: Map<string, Series>;
  /** `warren_message_age_seconds`, made on the route's first message with a timestamp. */
  messageAge: Series | undefined;
  /** `warren_throttled_seconds_total`: closed intervals, the open one, what prom-client has. */
  throttled: HeldTime;
  /** `warren_in_flight_bytes`: body bytes of deliveries started and not yet settled. */
  inFlightBytes: number;
  /** `warren_byte_budget_held_seconds_total`, kept like `throttled`. */
  heldByBudget: HeldTime;
}

/** Time a route spent held: closed intervals, the open one, what prom-client has. */
interface HeldTime {
  ms: number;
  since: number | undefined;
  reportedMs: number;
}

const tallies = new Map<string, RouteTally>();

export function tallyOf(route: string): RouteTally {
  let tally = tallies.get(route);
  if (tally === undefined) {
    tally = {
      inFlight: 0,
      messages: new Map(),
      webhookResponses: new Map(),
      handlerDuration: new Map(),
      webhookDuration: new Map(),
      messageAge: undefined,
      throttled: { ms: 0, since: undefined, reportedMs: 0 },
      inFlightBytes: 0,
      heldByBudget: { ms: 0, since: undefined, reportedMs: 0 },
    };
    tallies.set(route, tally);
  }
  return tally;
}

export function bump(counts: Map<string, Tally>, key: string): void {
  const tally = counts.get(key);
  if (tally === undefined) counts.set(key, { value: 1, reported: 0 });
  else tally.value++;
}

/** Seconds, for the times of one delivery and one HTTP request. */
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds a message waited since it was published: its AMQP timestamp has whole seconds, so the
 * first bounds are coarse; up to a day (a backlog drained after an outage). */
const ageBuckets = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 21600, 86400];

/** Hands prom-client the time held since the last scrape; an interval still running counts up to
 * now, so a long hold shows before it ends. */
function reportHeld(counter: Counter<'route'>, held: (t: RouteTally) => HeldTime): void {
  const now = performance.now();
  for (const [route, tally] of tallies) {
    const h = held(tally);
    const ms = h.ms + (h.since === undefined ? 0 : now - h.since);
    if (ms <= h.reportedMs) continue;
    counter.inc({ route }, (ms - h.reportedMs) / 1000);
    h.reportedMs = ms;
  }
}

/** Hands prom-client what was counted since the last scrape. */
function report<L extends string>(
  counter: Counter<L>,
  counts: (t: RouteTally) => Map<string, Tally>,
  labels: (route: string, key: string) => Record<L, string>,
): void {
  for (const [route, tally] of tallies) {
    for (const [key, t] of counts(tally)) {
      if (t.value === t.reported) continue;
      counter.inc(labels(route, key), t.value - t.reported);
      t.reported = t.value;
    }
  }
}

export const metrics = {
  messages: new Counter({
    name: 'warren_messages_total',
    help: 'Deliveries finished, by route and outcome (ack, retry, dead_letter, invalid, drop, requeue).',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
    collect() {
      report(
        this,
        (t) => t.messages,
        (route, outcome) => ({ route, outcome }),
      );
    },
  }),
  handlerDuration: new SeriesHistogram({
    name: 'warren_handler_duration_seconds',
    help: 'Time a target took for one delivery.',
    labelNames: ['route', 'target'] as const,
    buckets: durationBuckets,
    registers: [registry],
  }),
  messageAge: new SeriesHistogram({
    name: 'warren_message_age_seconds',
    help: "Time from a message's AMQP timestamp (whole seconds) to the start of its first delivery, by route; messages without a plausible timestamp are not counted.",
    labelNames: ['route'] as const,
    buckets: ageBuckets,
    registers: [registry],
  }),
  webhookRequestDuration: new SeriesHistogram({
    name: 'warren_webhook_request_duration_seconds',
    help: 'Time of one webhook HTTP request, by route and status class (2xx, 3xx, 4xx, 5xx, timeout, error).',
    labelNames: ['route', 'status_class'] as const,
    buckets: durationBuckets,
    registers: [registry],
  }),
  webhookResponses: new Counter({
    name: 'warren_webhook_responses_total',
    help: 'Webhook responses by route and status class (2xx, 3xx, 4xx, 5xx, timeout, error).',
    labelNames: ['route', 'status_class'] as const,
    registers: [registry],
    collect() {
      report(
        this,
        (t) => t.webhookResponses,
        (route, statusClass) => ({ route, status_class: statusClass }),
      );
    },
  }),
  inFlight: new Gauge({
    name: 'warren_in_flight',
    help: 'Deliveries in a handler or being settled (copy published, ack sent), by route.',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      for (const [route, tally] of tallies) this.set({ route }, tally.inFlight);
    },
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
  amqpNode: new Gauge({
    name: 'warren_amqp_node_info',
    help: '1 for the cluster node (host:port) both broker connections are open to; no sample while disconnected.',
    labelNames: ['node'] as const,
    registers: [registry],
  }),
  amqpBlocked: new Gauge({
    name: 'warren_amqp_blocked',
    help: '1 while the broker blocks the publishing connection (resource alarm).',
    registers: [registry],
  }),
  throttledSeconds: new Counter({
    name: 'warren_throttled_seconds_total',
    help: 'Time during which the route had a delivery it would have started (a free handler slot, circuit closed) but its rate limit had no token.',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      reportHeld(this, (t) => t.throttled);
    },
  }),
  inFlightBytes: new Gauge({
    name: 'warren_in_flight_bytes',
    help: 'Body bytes of the deliveries started and not yet settled, by route (held against maxInFlightBytes).',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      for (const [route, tally] of tallies) this.set({ route }, tally.inFlightBytes);
    },
  }),
  byteBudgetHeldSeconds: new Counter({
    name: 'warren_byte_budget_held_seconds_total',
    help: 'Time during which the route had a delivery it would have started (a free handler slot, circuit closed) but its body did not fit maxInFlightBytes.',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      reportHeld(this, (t) => t.heldByBudget);
    },
  }),
  circuitState: new Gauge({
    name: 'warren_circuit_state',
    help: "State of the route's webhook circuit breaker: 0 closed, 1 open, 2 half-open.",
    labelNames: ['route'] as const,
    registers: [registry],
  }),
  routeUp: new Gauge({
    name: 'warren_route_up',
    help: '1 while the route is consuming, 0 when it failed or is stopped.',
    labelNames: ['route'] as const,
    registers: [registry],
  }),
  pluginDuration: new Histogram({
    name: 'warren_plugin_duration_seconds',
    help: 'Time of one plugin call, by plugin file.',
    labelNames: ['plugin'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
  pluginErrors: new Counter({
    name: 'warren_plugin_errors_total',
    help: 'Plugin calls that failed, by plugin file and kind (error, timeout, memory).',
    labelNames: ['plugin', 'kind'] as const,
    registers: [registry],
  }),
  configInfo: new Gauge({
    name: 'warren_config_info',
    help: 'The configuration version (hash of the route files) running now: 1 for the current version.',
    labelNames: ['version'] as const,
    registers: [registry],
  }),
  reloads: new Counter({
    name: 'warren_reload_total',
    help: 'Reloads by result: applied, partial (some routes kept their previous version), invalid, unchanged.',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  reloadDuration: new Histogram({
    name: 'warren_reload_duration_seconds',
    help: 'Time from the start of a reload to its last route applied (drains of old consumers excluded).',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
};

const dlqGaugeName = 'warren_dlq_messages';

/**
 * `warren_dlq_messages{route}`, registered by each runtime's admin app rather than here: `collect`
 * reads that runtime's broker. Registering again (a new runtime in the same process) replaces the
 * previous gauge and its source.
 */
export function registerDlqMessages(
  collect: (this: Gauge<'route'>) => Promise<void>,
  target: Registry = registry,
): Gauge<'route'> {
  if (target.getSingleMetric(dlqGaugeName)) target.removeSingleMetric(dlqGaugeName);
  return new Gauge({
    name: dlqGaugeName,
    help: "Messages in each route's dead-letter queue (read at most every few seconds).",
    labelNames: ['route'] as const,
    registers: [target],
    collect,
  });
}
