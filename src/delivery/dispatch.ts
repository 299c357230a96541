import type { ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { publishEncodable } from '../amqp/encodable-copy.js';
import type { Publisher } from '../amqp/publisher.js';
import { isWarrenError } from '../errors.js';
import type { Handler } from '../targets/types.js';
import { events, type FinalOutcome } from '../telemetry/events.js';
import { validTraceparent } from '../telemetry/trace.js';
import { type Tracer, tracer } from '../telemetry/tracing.js';
import type { RoutePlan } from '../topology/plan.js';
import { delayForAttempt } from '../topology/plan.js';
import { deadLetterAnnotations, deadLetterCopy, retryCopy } from './copies.js';
import { toDelivery } from './delivery.js';
import type { RouteGates } from './gates.js';
import type { Outcome } from './outcome.js';
import type { Delivery } from './types.js';

/** The consumer's channel, as far as settling a delivery needs it. */
export interface Settler {
  /** False once the channel closed: its deliveries will be redelivered and must not be acked. */
  readonly open: boolean;
  /**
   * Acks, perhaps together with others a little later; `sent` learns whether the ack left (false:
   * the channel was closing, and the broker redelivers). Never throws: when the channel turns out
   * to be closing, `open` becomes false instead.
   */
  ack(msg: ConsumeMessage, sent: (ok: boolean) => void): void;
  requeue(msg: ConsumeMessage): void;
}

/**
 * One version of a route, as its consumer runs it for each delivery: the plan it came from, its
 * handler, its confirm publisher and the route's gates. Swapped whole on a handler-only reload.
 */
export interface RouteVersion {
  plan: RoutePlan;
  handler: Handler;
  publisher: Publisher;
  /** The route's byte budget, rate limit and circuit breaker; absent only for a route whose plugins
   * did not load, and then nothing is asked before a delivery starts. */
  gates?: RouteGates;
}

/** A publish failure is requeued after this pause, so a broken DLQ cannot spin a hot loop. */
const requeuePauseMs = 500;

/** The retry tier for a failed attempt: `Retry-After` picks the smallest tier at or above it,
 * clamped to the largest; otherwise the policy's delay for this attempt. */
export function chooseTier(plan: RoutePlan, attempt: number, afterMs?: number): string {
  const tiers = plan.tiers;
  if (afterMs !== undefined) {
    const tier = tiers.find((t) => t.delayMs >= afterMs) ?? tiers.at(-1);
    return tier!.queue;
  }
  const delay = delayForAttempt(plan.retry, attempt);
  return (tiers.find((t) => t.delayMs === delay) ?? tiers.at(-1))!.queue;
}

/**
 * Runs one delivery through the route's handler and turns the outcome into broker actions in the
 * order the delivery semantics require (docs/architecture.md): a copy is confirmed before the
 * original is acked; when the copy cannot be confirmed the original is requeued, never acked.
 * Rejects only on a bug in Warren.
 *
 * Written with `then` rather than `await`, and an ack or a drop reported from the ack's callback
 * (acks leave in batches, see AckBatch): per delivery that is one promise besides the handler's.
 * The returned promise settles once the broker action is asked for, which frees the slot; the
 * delivery is reported once the action left.
 */
export function dispatch(
  route: RouteVersion,
  msg: ConsumeMessage,
  channel: Settler,
  log: Logger,
): Promise<void> {
  const started = performance.now();
  const delivery = toDelivery(msg, route.plan.name);
  const tracing = tracer;
  if (tracing !== undefined) traceDelivery(tracing, delivery, route.plan);
  events.deliveryStarted(route.plan.name, msg.properties.timestamp, delivery.attempt);
  let pending: Promise<Outcome>;
  try {
    pending = route.handler(delivery);
  } catch (err) {
    pending = Promise.reject(err);
  }
  return pending.then(
    (outcome) => settleAndReport(route, msg, delivery, outcome, channel, log, started),
    (err: unknown) => {
      // Targets return outcomes; an exception is a bug, and the message is kept safe by a retry.
      log.error({ event: 'handler_bug', route: route.plan.name, err }, 'handler threw');
      const outcome: Outcome = { kind: 'retry', reason: `internal error: ${(err as Error).message}` };
      return settleAndReport(route, msg, delivery, outcome, channel, log, started);
    },
  );
}

/**
 * Starts the delivery's consumer span, a child of the message's own traceparent (a new trace when
 * it has none), and makes the span what every next hop carries: a retry or dead-letter copy is then
 * the child of this attempt, and the target's spans are children of this one.
 */
function traceDelivery(t: Tracer, d: Delivery, plan: RoutePlan): void {
  const span = t.startDelivery({
    queue: plan.queue,
    route: d.route,
    exchange: d.exchange,
    routingKey: d.routingKey,
    messageId: d.id,
    attempt: d.attempt,
    bodySize: d.content.length,
    parent: validTraceparent(d.headers.traceparent),
  });
  d.span = span;
  d.traceparent = span.traceparent;
}

function settleAndReport(
  route: RouteVersion,
  msg: ConsumeMessage,
  d: Delivery,
  outcome: Outcome,
  channel: Settler,
  log: Logger,
  started: number,
): Promise<void> | undefined {
  if (outcome.kind === 'ack' || outcome.kind === 'drop' || outcome.kind === 'filtered') {
    ackThen(msg, channel, outcome.kind, (final) => report(route, d, outcome, final, log, started));
    return undefined;
  }
  return publishCopy(route, msg, d, outcome, channel, log).then((done) =>
    report(route, d, done.outcome, done.final, log, started),
  );
}

function report(
  route: RouteVersion,
  d: Delivery,
  outcome: Outcome,
  final: FinalOutcome,
  log: Logger,
  started: number,
): void {
  const reason = outcome.kind === 'ack' ? undefined : outcome.reason;
  d.span?.end(final, failedAttempt.has(final) ? (reason ?? final) : undefined);
  events.deliveryFinished(log, {
    route: route.plan.name,
    target: route.plan.target.kind,
    outcome: final,
    seconds: (performance.now() - started) / 1000,
    id: d.id,
    attempt: d.attempt,
    traceparent: d.traceparent,
    reason,
    status: outcome.kind === 'retry' || outcome.kind === 'dead-letter' ? outcome.status : undefined,
  });
}

/** Final outcomes that mark the attempt failed on its span. */
const failedAttempt: ReadonlySet<FinalOutcome> = new Set(['retry', 'dead_letter', 'requeue', 'abandoned']);

/** Acks the original; `done` learns the final outcome: `kind`, or `abandoned` when the channel
 * closed first and the broker will redeliver. */
function ackThen(
  msg: ConsumeMessage,
  channel: Settler,
  kind: FinalOutcome,
  done: (final: FinalOutcome) => void,
): void {
  if (channel.open) channel.ack(msg, (sent) => done(sent ? kind : 'abandoned'));
  else done('abandoned');
}

const acked = (msg: ConsumeMessage, channel: Settler, kind: FinalOutcome): Promise<FinalOutcome> =>
  new Promise((resolve) => ackThen(msg, channel, kind, resolve));

async function publishCopy(
  route: RouteVersion,
  msg: ConsumeMessage,
  d: Delivery,
  outcome: Extract<Outcome, { kind: 'retry' | 'dead-letter' }>,
  channel: Settler,
  log: Logger,
): Promise<{ final: FinalOutcome; outcome: Outcome }> {
  const { plan, publisher } = route;
  const exhausted = outcome.kind === 'retry' && d.attempt >= plan.retry.attempts;
  let reason =
    outcome.kind === 'retry' ? `${outcome.reason} (gave up after ${d.attempt} attempts)` : outcome.reason;
  if (outcome.kind === 'retry' && !exhausted) {
    try {
      const tier = chooseTier(plan, d.attempt, outcome.afterMs);
      d.span?.decided('retry', outcome.reason, tier);
      await publisher.publish('', tier, msg.content, retryCopy(msg, d), { mandatory: true });
      return { final: await acked(msg, channel, 'retry'), outcome };
    } catch (err) {
      // A copy amqplib cannot encode fails the same way every time: the message's own fault, so it
      // is dead-lettered now rather than requeued for ever.
      if (!isWarrenError(err, 'WARREN_E_UNENCODABLE')) {
        events.publishFailed(log, plan.name, 'retry', err as Error);
        return { final: await requeue(msg, channel), outcome };
      }
      reason = (err as Error).message;
      outcome = {
        kind: 'dead-letter',
        reason,
        ...(outcome.status !== undefined ? { status: outcome.status } : {}),
      };
    }
  }
  try {
    const status = outcome.status;
    d.span?.decided('dead_letter', reason, plan.deadLetterQueue);
    // The dead letter leaves even when its headers cannot be encoded (see publishEncodable).
    const contract = outcome.kind === 'dead-letter' ? outcome.contract : undefined;
    await publishEncodable(
      publisher,
      '',
      plan.deadLetterQueue,
      msg.content,
      () => deadLetterCopy(msg, d, { reason, ...(status !== undefined ? { status } : {}), ...contract }),
      deadLetterAnnotations,
    );
    return { final: await acked(msg, channel, contract ? 'invalid' : 'dead_letter'), outcome };
  } catch (err) {
    events.publishFailed(log, plan.name, 'dead_letter', err as Error);
    return { final: await requeue(msg, channel), outcome };
  }
}

async function requeue(msg: ConsumeMessage, channel: Settler): Promise<FinalOutcome> {
  await new Promise((resolve) => setTimeout(resolve, requeuePauseMs));
  if (!channel.open) return 'abandoned';
  channel.requeue(msg);
  return channel.open ? 'requeue' : 'abandoned';
}
