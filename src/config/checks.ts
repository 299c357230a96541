import { expandStatuses } from '../targets/webhook-schema.js';
import { derivedQueueNames } from '../topology/plan.js';
import type { RawDoc } from './documents.js';
import type { ConfigIssue } from './issues.js';
import { MAX_NAME_BYTES } from './keywords.js';
import type { RawRoute } from './schema.js';
import type { Origin, QueueSpec, RetryPolicy } from './types.js';

/**
 * The checks a schema cannot say: a status both retried and dead-lettered, a name that only
 * grows past the broker's limit once Warren derives a queue from it, two routes on one queue.
 */

/** One route under check: a check that reads only the part at `sub` runs when `ok(sub)`. */
export interface RouteCheck {
  raw: RawDoc;
  pointer: string;
  ok(sub: string): boolean;
  /** An issue at `sub`: the route is not built, its other checks still run. */
  fail(sub: string, message: string): void;
}

/** What a target's own schema cannot say: a status both retried and dead-lettered, a key too long. */
export function checkTarget(check: RouteCheck, to: RawRoute['to'] | undefined): void {
  const webhook = to?.webhook;
  if (webhook && check.ok('/to/webhook/retryOn') && check.ok('/to/webhook/deadLetterOn')) {
    const retryOn = expandStatuses(webhook.retryOn);
    const deadLetterOn = expandStatuses(webhook.deadLetterOn);
    const both = retryOn.filter((status) => deadLetterOn.includes(status));
    if (both.length > 0) {
      check.fail('/to/webhook/deadLetterOn', `status ${both.join(', ')} is in both retryOn and deadLetterOn`);
    }
  }
  const republish = to?.republish;
  if (republish && check.ok('/to/republish/routingKey') && typeof republish.routingKey === 'string') {
    const literal = Buffer.byteLength(republish.routingKey.replaceAll('{{routingKey}}', ''), 'utf8');
    if (literal > MAX_NAME_BYTES) {
      check.fail(
        '/to/republish/routingKey',
        `routing key is at least ${literal} bytes long in UTF-8; RabbitMQ allows at most ${MAX_NAME_BYTES}`,
      );
    }
  }
}

/**
 * The longest queue name a route makes Warren declare (its DLQ `<queue>.dlq`, its delay tiers
 * `warren.retry.<queue>.<delay>`), as an issue when it passes the broker's 255 bytes. The name
 * itself is not repeated: it may hold an interpolated value.
 */
export function derivedNameIssue(
  queue: string,
  retry: RetryPolicy,
  deadLetterQueue: string,
): string | undefined {
  const names = derivedQueueNames({ queue, retry, deadLetterQueue });
  const longest = names
    .map((n) => ({ ...n, bytes: Buffer.byteLength(n.name, 'utf8') }))
    .sort((a, b) => b.bytes - a.bytes)[0];
  if (!longest || longest.bytes <= MAX_NAME_BYTES) return undefined;
  const form =
    longest.role === 'retry'
      ? `delay-tier queue \`warren.retry.<queue>.${longest.name.slice(longest.name.lastIndexOf('.') + 1)}\``
      : 'dead-letter queue `<queue>.dlq`';
  return `with this queue name the ${form} Warren declares would be ${longest.bytes} bytes long in UTF-8; RabbitMQ allows at most ${MAX_NAME_BYTES}: shorten the queue name${longest.role === 'dead-letter' ? ' or set deadLetter.queue' : ''}`;
}

/** A route consuming a queue, where the route file names it. */
export interface Consumer {
  route: string;
  queue: string;
  origin: Origin;
  pointer: string;
}

/** One route per queue: a second consumer is an issue at the route that came later. */
export function oneRoutePerQueue(consumers: Consumer[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const byQueue = new Map<string, Consumer>();
  for (const consumer of consumers) {
    const other = byQueue.get(consumer.queue);
    if (other) {
      issues.push({
        ...consumer.origin,
        pointer: consumer.pointer,
        message: `queue \`${consumer.queue}\` is already consumed by route \`${other.route}\` (${other.origin.file}:${other.origin.line}); one route per queue`,
      });
    }
    byQueue.set(consumer.queue, consumer);
  }
  return issues;
}

/**
 * A single-active-consumer route keeps its queue's order only when one handler runs at a time:
 * an explicit `concurrency` above 1 needs `ordered: false`, and `ordered` means nothing without
 * `singleActiveConsumer` (competing replicas never keep order).
 */
export function checkOrdering(check: RouteCheck, r: RawRoute): void {
  if (r.ordered !== undefined && r.singleActiveConsumer !== true && check.ok('/ordered')) {
    check.fail(
      '/ordered',
      'ordered applies to a singleActiveConsumer route only: without singleActiveConsumer: true every replica consumes the queue at once and no order is kept',
    );
  }
  const concurrency = r.concurrency;
  if (
    r.singleActiveConsumer === true &&
    r.ordered !== false &&
    concurrency !== undefined &&
    concurrency > 1
  ) {
    check.fail(
      '/concurrency',
      `concurrency ${concurrency} runs that many deliveries of this singleActiveConsumer route at once, so they finish out of order: set concurrency: 1 (the default for such a route), or ordered: false to accept it`,
    );
  }
}

/** Where a route file sets `replicas` for a queue, for the checks across files. */
export interface ReplicasUse {
  route: string;
  queue: string;
  deadLetterQueue: string;
  /** `from.replicas`; undefined when the route leaves it to the queue's entry or the broker. */
  replicas: number | undefined;
  /** Where `from.replicas` is (or the route, without it). */
  at: ConfigIssue;
  /** Where `deadLetter.queue` is (or the route, without it). */
  deadLetterAt: ConfigIssue;
}

/**
 * `from.replicas` against the queue's `queues:` entry (wherever it is): a classic queue has no
 * replicas, and two values for one queue would be a 406 at the second declaration. Routes sharing
 * a dead-letter queue must give it the same replicas for the same reason.
 */
export function checkReplicas(uses: ReplicasUse[], queues: QueueSpec[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const defined = new Map(queues.map((q) => [q.name, q]));
  const byDeadLetterQueue = new Map<string, { use: ReplicasUse; replicas: number | undefined }>();
  for (const use of uses) {
    const entry = defined.get(use.queue);
    const where = entry ? `${entry.origin.file}:${entry.origin.line}` : '';
    if (use.replicas !== undefined && entry?.type === 'classic') {
      issues.push({
        ...use.at,
        message: `replicas sets x-quorum-initial-group-size, which only a quorum queue has: queue \`${use.queue}\` is type: classic (${where})`,
      });
      continue;
    }
    if (use.replicas !== undefined && entry?.replicas !== undefined && entry.replicas !== use.replicas) {
      issues.push({
        ...use.at,
        message: `replicas ${use.replicas} differs from the replicas ${entry.replicas} of queue \`${use.queue}\` (${where}); set it in one place`,
      });
      continue;
    }
    const replicas = use.replicas ?? entry?.replicas;
    const other = byDeadLetterQueue.get(use.deadLetterQueue);
    if (other && other.replicas !== replicas) {
      issues.push({
        ...use.deadLetterAt,
        message: `dead-letter queue \`${use.deadLetterQueue}\` is shared with route \`${other.use.route}\` (${other.use.deadLetterAt.file}:${other.use.deadLetterAt.line}), which gives it replicas ${other.replicas ?? "(the broker's)"}, this route ${replicas ?? "(the broker's)"}: the second declaration would fail`,
      });
    } else if (!other) byDeadLetterQueue.set(use.deadLetterQueue, { use, replicas });
  }
  return issues;
}
