import type { Channel, ChannelModel } from 'amqplib';
import type { ExchangeSpec } from '../config/types.js';
import { WarrenError } from '../errors.js';
import type { BindingDecl, Plan, QueueDecl, RoutePlan } from './plan.js';

/**
 * Declares given entities on the broker, and nothing else: which ones, when and in what order is
 * the reload's business (runtime/apply.ts). Every declaration runs on a throw-away channel: a 406
 * closes the channel it happened on, and must cost one route, never the others.
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

/** Turns a broker refusal into an error that names the route, the entity and the property (or,
 * when `properties` lists what a probe found, every property that differs). */
export function describeRefusal(
  err: unknown,
  entity: string,
  route?: string,
  properties: string[] = [],
): WarrenError {
  const e = err as AmqpError;
  const text = e.message ?? String(err);
  const brokerText =
    /(PRECONDITION_FAILED|NOT_FOUND|ACCESS_REFUSED|RESOURCE_LOCKED)[^"]*/.exec(text)?.[0] ?? text;
  const who = route ? `route \`${route}\`: ` : '';
  if (e.code === 406) {
    const found = properties.length > 0 ? properties : [/inequivalent arg '([^']+)'/.exec(text)?.[1]];
    const named = found.filter((p): p is string => p !== undefined);
    const list = named.map((p) => `\`${p}\``).join(', ');
    const what = named.includes('x-queue-type')
      ? `it exists as another queue type (differs in ${list}); a queue cannot change its type`
      : named.length > 0
        ? `it exists with a different ${list}`
        : 'it exists with other properties';
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

/**
 * RabbitMQ names only the first argument it finds different, in its own order: a classic queue
 * meeting a quorum declaration with a dead-letter target is reported as a different
 * `x-dead-letter-exchange`, compared before `x-queue-type`. Declare again without each argument
 * the existing queue lacks ("current is none"), until the broker names one it has or agrees, and
 * return every property found. A probe never changes an existing queue (a declare only compares),
 * and a passive check first on the same channel keeps it from creating one that vanished.
 */
async function differingArguments(
  connection: ChannelModel,
  q: QueueDecl,
  refusal: unknown,
): Promise<string[]> {
  const found: string[] = [];
  const probe = { ...q.arguments };
  let text = (refusal as AmqpError).message ?? '';
  for (let i = 0; i <= Object.keys(q.arguments).length; i++) {
    const property = /inequivalent arg '([^']+)'/.exec(text)?.[1];
    if (!property || found.includes(property)) break;
    found.push(property);
    if (!/current is none/.test(text) || !(property in probe)) break;
    delete probe[property];
    try {
      await withChannel(connection, async (ch) => {
        await ch.checkQueue(q.name);
        await ch.assertQueue(q.name, { durable: q.durable, arguments: probe });
      });
      break;
    } catch (err) {
      text = (err as AmqpError).message ?? '';
    }
  }
  return found;
}

/** A refusal of a queue declaration, with every differing property when it is a 406. */
async function describeQueueRefusal(
  connection: ChannelModel,
  err: unknown,
  q: QueueDecl,
  entity: string,
  route?: string,
): Promise<WarrenError> {
  const properties =
    (err as AmqpError).code === 406 ? await differingArguments(connection, q, err).catch(() => []) : [];
  return describeRefusal(err, entity, route, properties);
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
export async function declareShared(connection: ChannelModel, plan: Plan): Promise<SharedResult> {
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
      // A queue no route consumes is declared only when missing: an existing one may carry the
      // poison guard of a route that consumed it before, and re-declaring it without would be a 406.
      const exists = await withChannel(connection, (ch) => ch.checkQueue(q.name)).then(
        () => true,
        () => false,
      );
      await withChannel(connection, async (ch) => {
        if (!exists) await declareQueue(ch, q);
        for (const b of plan.queueBindings.filter((x) => x.destination === q.name)) await bind(ch, b);
      });
    } catch (err) {
      failures.push(await describeQueueRefusal(connection, err, q, `queue "${q.name}"`));
    }
  }
  return { failedExchanges, failures };
}

/** Declares a route's queues (source, DLQ, delay tiers) and binds its source queue. Throws a
 * WarrenError naming the route and entity on the first refusal. */
export async function declareRoute(
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
  let queue: QueueDecl | undefined;
  try {
    await withChannel(connection, async (ch) => {
      for (const q of route.queues) {
        entity = `${q.role === 'source' ? 'queue' : `${q.role} queue`} "${q.name}"`;
        queue = q;
        await declareQueue(ch, q);
      }
      queue = undefined;
      for (const b of route.bindings) {
        entity = describeBinding(b);
        await bind(ch, b);
      }
    });
  } catch (err) {
    throw queue
      ? await describeQueueRefusal(connection, err, queue, entity, route.name)
      : describeRefusal(err, entity, route.name);
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
