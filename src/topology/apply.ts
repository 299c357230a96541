import type { Channel, ChannelModel } from 'amqplib';
import type { ExchangeSpec } from '../config/types.js';
import { WarrenError } from '../errors.js';
import type { BindingDecl, Plan, QueueDecl, RoutePlan } from './plan.js';

/**
 * The only topology step with I/O. Every declaration runs on a throw-away channel: a 406 closes
 * the channel it happened on, and must cost one route, never the others.
 */
async function withChannel<T>(connection: ChannelModel, work: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await connection.createChannel();
  let closed = false;
  channel.on('error', () => {}); // the rejected operation carries the error
  channel.on('close', () => {
    closed = true;
  });
  try {
    return await work(channel);
  } finally {
    if (!closed) await channel.close().catch(() => {});
  }
}

interface AmqpError {
  code?: number;
  message?: string;
}

/** Turns a broker refusal into an error that names the route, the entity and the property. */
export function describeRefusal(err: unknown, entity: string, route?: string): WarrenError {
  const e = err as AmqpError;
  const text = e.message ?? String(err);
  const brokerText =
    /(PRECONDITION_FAILED|NOT_FOUND|ACCESS_REFUSED|RESOURCE_LOCKED)[^"]*/.exec(text)?.[0] ?? text;
  const who = route ? `route \`${route}\`: ` : '';
  if (e.code === 406) {
    const property = /inequivalent arg '([^']+)'/.exec(text)?.[1];
    const what = property ? `it exists with a different \`${property}\`` : 'it exists with other properties';
    return new WarrenError(
      'WARREN_E_TOPOLOGY_CONFLICT',
      `${who}cannot declare ${entity}: ${what} (${brokerText}); change the route to match, or move the messages and delete it`,
      { cause: err },
    );
  }
  return new WarrenError('WARREN_E_TOPOLOGY_FAILED', `${who}cannot declare ${entity}: ${brokerText}`, {
    cause: err,
  });
}

async function declareQueue(channel: Channel, q: QueueDecl): Promise<void> {
  await channel.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
}

async function bind(channel: Channel, b: BindingDecl): Promise<void> {
  const args = b.headers ?? {};
  if (b.destinationKind === 'queue') await channel.bindQueue(b.destination, b.exchange, b.key, args);
  else await channel.bindExchange(b.destination, b.exchange, b.key, args);
}

export function describeBinding(b: BindingDecl): string {
  const match = b.headers ? `headers ${JSON.stringify(b.headers)}` : `key "${b.key}"`;
  return `binding ${b.destinationKind} "${b.destination}" ← exchange "${b.exchange}" (${match})`;
}

async function declareExchange(channel: Channel, x: ExchangeSpec): Promise<void> {
  await channel.assertExchange(x.name, x.type, {
    durable: x.durable,
    autoDelete: x.autoDelete,
    internal: x.internal,
    ...(x.alternateExchange ? { alternateExchange: x.alternateExchange } : {}),
    arguments: x.arguments,
  });
}

export interface SharedResult {
  /** Entities outside any route that failed, with why: exchange name → error. */
  failedExchanges: Map<string, WarrenError>;
  failures: WarrenError[];
}

/** Exchanges, exchange-to-exchange bindings, and queues no route consumes. */
export async function applyShared(connection: ChannelModel, plan: Plan): Promise<SharedResult> {
  const failedExchanges = new Map<string, WarrenError>();
  const failures: WarrenError[] = [];
  for (const x of plan.exchanges) {
    try {
      await withChannel(connection, (ch) => declareExchange(ch, x));
    } catch (err) {
      const error = describeRefusal(err, `exchange "${x.name}"`);
      failedExchanges.set(x.name, error);
      failures.push(error);
    }
  }
  for (const b of plan.exchangeBindings) {
    try {
      await withChannel(connection, (ch) => bind(ch, b));
    } catch (err) {
      failures.push(describeRefusal(err, describeBinding(b)));
    }
  }
  for (const q of plan.queues) {
    try {
      await withChannel(connection, async (ch) => {
        await declareQueue(ch, q);
        for (const b of plan.queueBindings.filter((x) => x.destination === q.name)) await bind(ch, b);
      });
    } catch (err) {
      failures.push(describeRefusal(err, `queue "${q.name}"`));
    }
  }
  return { failedExchanges, failures };
}

/** Declares a route's queues (source, DLQ, delay tiers) and binds its source queue. Throws a
 * WarrenError naming the route and entity on the first refusal. */
export async function applyRoute(
  connection: ChannelModel,
  route: RoutePlan,
  failedExchanges: ReadonlyMap<string, WarrenError> = new Map(),
): Promise<void> {
  for (const name of route.exchanges) {
    const failed = failedExchanges.get(name);
    if (failed)
      throw new WarrenError('WARREN_E_TOPOLOGY_CONFLICT', `route \`${route.name}\`: ${failed.message}`, {
        cause: failed,
      });
  }
  // One channel for the whole route: the first refusal closes it, and fails just this route.
  let entity = '';
  try {
    await withChannel(connection, async (ch) => {
      for (const q of route.queues) {
        entity = `${q.role === 'source' ? 'queue' : `${q.role} queue`} "${q.name}"`;
        await declareQueue(ch, q);
      }
      for (const b of route.bindings) {
        entity = describeBinding(b);
        await bind(ch, b);
      }
    });
  } catch (err) {
    throw describeRefusal(err, entity, route.name);
  }
}

/** Removes bindings a reload dropped. A missing binding is not an error. */
export async function unbindAll(connection: ChannelModel, bindings: BindingDecl[]): Promise<WarrenError[]> {
  const failures: WarrenError[] = [];
  for (const b of bindings) {
    try {
      await withChannel(connection, async (ch) => {
        const args = b.headers ?? {};
        if (b.destinationKind === 'queue') await ch.unbindQueue(b.destination, b.exchange, b.key, args);
        else await ch.unbindExchange(b.destination, b.exchange, b.key, args);
      });
    } catch (err) {
      failures.push(describeRefusal(err, `un${describeBinding(b)}`));
    }
  }
  return failures;
}
