import type { ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Publisher } from '../amqp/publisher.js';
import type { Handler } from '../targets/types.js';
import { events, type FinalOutcome } from '../telemetry/events.js';
import { traceIdOf } from '../telemetry/trace.js';
import type { RoutePlan } from '../topology/plan.js';
import { delayForAttempt } from '../topology/plan.js';
import { deadLetterCopy, retryCopy } from './copies.js';
import { toDelivery } from './delivery.js';
import type { Outcome } from './outcome.js';
import type { Delivery } from './types.js';

/** The consumer's channel, as far as settling a delivery needs it. */
export interface Settler {
  /** False once the channel closed: its deliveries will be redelivered and must not be acked. */
  readonly open: boolean;
  /** Never throw: when the channel turns out to be closing, `open` becomes false instead. */
  ack(msg: ConsumeMessage): void;
  requeue(msg: ConsumeMessage): void;
}

/** What a route runs for each delivery; swapped whole on a handler-only reload. */
export interface RouteRuntime {
  plan: RoutePlan;
  handler: Handler;
  publisher: Publisher;
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
 * order DESIGN §3 requires: a copy is confirmed before the original is acked; when the copy
 * cannot be confirmed the original is requeued, never acked.
 */
export async function dispatch(
  route: RouteRuntime,
  msg: ConsumeMessage,
  channel: Settler,
  log: Logger,
): Promise<void> {
  const started = performance.now();
  const delivery = toDelivery(msg, route.plan.name);
  events.deliveryStarted(route.plan.name);
  let outcome: Outcome;
  try {
    outcome = await route.handler(delivery);
  } catch (err) {
    // Targets return outcomes; an exception is a bug, and the message is kept safe by a retry.
    log.error({ event: 'handler_bug', route: route.plan.name, err }, 'handler threw');
    outcome = { kind: 'retry', reason: `internal error: ${(err as Error).message}` };
  }
  const result = await settle(route, msg, delivery, outcome, channel, log);
  events.deliveryFinished(log, {
    route: route.plan.name,
    target: route.plan.target.kind,
    outcome: result.outcome,
    seconds: (performance.now() - started) / 1000,
    id: delivery.id,
    attempt: delivery.attempt,
    traceId: traceIdOf(delivery.traceparent),
    ...('reason' in outcome ? { reason: outcome.reason } : {}),
    ...('status' in outcome && outcome.status !== undefined ? { status: outcome.status } : {}),
  });
}

async function settle(
  route: RouteRuntime,
  msg: ConsumeMessage,
  d: Delivery,
  outcome: Outcome,
  channel: Settler,
  log: Logger,
): Promise<{ outcome: FinalOutcome }> {
  const { plan, publisher } = route;
  const finish = (kind: FinalOutcome): { outcome: FinalOutcome } => {
    if (!channel.open) return { outcome: 'abandoned' };
    channel.ack(msg);
    // The ack can still find the connection closing: then it never left, and the broker redelivers.
    return { outcome: channel.open ? kind : 'abandoned' };
  };
  if (outcome.kind === 'ack') return finish('ack');
  if (outcome.kind === 'drop') return finish('drop');

  const exhausted = outcome.kind === 'retry' && d.attempt >= plan.retry.attempts;
  if (outcome.kind === 'retry' && !exhausted) {
    try {
      const tier = chooseTier(plan, d.attempt, outcome.afterMs);
      await publisher.publish('', tier, msg.content, retryCopy(msg, d), { mandatory: true });
      return finish('retry');
    } catch (err) {
      events.publishFailed(log, plan.name, 'retry', err as Error);
      return requeue(msg, channel);
    }
  }
  const reason =
    outcome.kind === 'retry' ? `${outcome.reason} (gave up after ${d.attempt} attempts)` : outcome.reason;
  try {
    const copy = deadLetterCopy(msg, d, {
      reason,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    });
    await publisher.publish('', plan.deadLetterQueue, msg.content, copy, { mandatory: true });
    return finish('dead_letter');
  } catch (err) {
    events.publishFailed(log, plan.name, 'dead_letter', err as Error);
    return requeue(msg, channel);
  }
}

async function requeue(msg: ConsumeMessage, channel: Settler): Promise<{ outcome: FinalOutcome }> {
  await new Promise((resolve) => setTimeout(resolve, requeuePauseMs));
  if (!channel.open) return { outcome: 'abandoned' };
  channel.requeue(msg);
  return { outcome: channel.open ? 'requeue' : 'abandoned' };
}
