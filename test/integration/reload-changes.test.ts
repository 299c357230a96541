import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { accounting, MandatoryPublisher } from '../helpers/load.js';
import type { Receiver } from '../helpers/receiver.js';
import {
  nextReload,
  type RunningWarren,
  replaceFile,
  startWarren,
  trackPlan,
  useHarness,
} from '../helpers/warren.js';

/**
 * Hot reload under load (README: Hot reload; issue 3): a steady publisher runs while a route file changes;
 * receivers record `webhook-id`s. Files are replaced by rename, so a watcher never reads half a file.
 */

/** Log lines since line `from` that a consumer (re)start or stop of `route` writes. */
function consumerChanges(warren: RunningWarren, route: string, from: number): unknown[] {
  return warren.logs
    .slice(from)
    .filter((l) => (l.event === 'route_state' || l.event === 'consumer_drained') && l.route === route);
}

const ids = (...receivers: Receiver[]): string[] =>
  receivers.flatMap((r) => r.requests.map((q) => String(q.headers['webhook-id'])));

interface RouteOpts {
  queue: string;
  keys: string[];
  url: string;
  extra?: string;
}

function route(name: string, exchange: string, o: RouteOpts): string {
  const bind = o.keys.map((k) => `{ exchange: ${exchange}, key: "${k}" }`).join(', ');
  return `
  ${name}:
    from: { queue: ${o.queue}, bind: [${bind}] }
    to: { webhook: { url: "${o.url}" } }${o.extra ?? ''}`;
}

const file = (exchange: string, routes: string[]): string =>
  `exchanges: { ${exchange}: { type: topic } }\nroutes:${routes.join('')}\n`;

describe('hot reload under load', () => {
  const h = useHarness();
  let first: Receiver;
  let second: Receiver;
  let exchange: string;

  beforeEach(async () => {
    // A little latency keeps deliveries in flight while the reload happens.
    const slow = () => new Promise<number>((resolve) => setTimeout(() => resolve(200), 3));
    first = await h.receive(slow);
    second = await h.receive(slow);
    exchange = uniqueName('reload.x');
  });

  it('(b) adds a route that starts receiving while the existing route is left untouched', async () => {
    const orders = { queue: uniqueName('reload.add.a'), keys: ['order.#'], url: first.url() };
    const audit = { queue: uniqueName('reload.add.b'), keys: ['order.#'], url: second.url() };
    h.warren = await startWarren(
      { 'r.yaml': file(exchange, [route('orders', exchange, orders)]) },
      h.broker,
      {
        watch: true,
      },
    );
    const publisher = h.publisher(exchange, 'order.created', 'b');
    publisher.start();
    await waitFor('traffic on the first route', () => first.requests.length > 20);

    const logFrom = h.warren.logs.length;
    const previous = h.warren.runtime.lastReload;
    await replaceFile(
      h.warren.dir,
      'r.yaml',
      file(exchange, [route('orders', exchange, orders), route('audit', exchange, audit)]),
    );
    const report = await nextReload(h.warren, previous);
    await trackPlan(h.broker, h.warren.dir);
    // Every message published from now on finds the new queue bound.
    const afterReload = publisher.published.length;
    await waitFor('traffic on the added route', () => second.requests.length > 20);
    await publisher.stop();

    expect(report).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(report.routes).toEqual([{ route: 'audit', change: 'added', ok: true }]);
    await waitFor('the first route got everything', () => {
      return accounting(publisher.published, ids(first)).lost.length === 0;
    });
    expect(accounting(publisher.published, ids(first)).duplicates).toBe(0);
    // The untouched consumer was never restarted: no state change, no redelivery.
    expect(consumerChanges(h.warren, 'orders', logFrom)).toEqual([]);
    expect(consumerChanges(h.warren, 'audit', logFrom).length).toBeGreaterThan(0);
    expect(first.requests.filter((r) => r.headers['x-warren-redelivered'] !== 'false')).toEqual([]);
    expect(await h.broker.consumers(orders.queue)).toBe(1);

    const sinceReload = publisher.published.slice(afterReload);
    await waitFor('the added route got everything published after it', () => {
      return accounting(sinceReload, ids(second)).lost.length === 0;
    });
    expect(accounting(sinceReload, ids(second)).duplicates).toBe(0);
  });

  it('(c) removes a route: its consumer stops, its queue and messages stay, the other route goes on', async () => {
    const keep = { queue: uniqueName('reload.rm.keep'), keys: ['order.#'], url: first.url() };
    const gone = { queue: uniqueName('reload.rm.gone'), keys: ['invoice.#'], url: second.url() };
    h.warren = await startWarren(
      { 'r.yaml': file(exchange, [route('keep', exchange, keep), route('gone', exchange, gone)]) },
      h.broker,
      { watch: true },
    );
    const kept = h.publisher(exchange, 'order.created', 'k');
    const mandatory = await MandatoryPublisher.open(h.broker, exchange, 'invoice.paid', 'g');
    h.defer(() => mandatory.close());
    kept.start();
    mandatory.start(5);
    await waitFor('traffic on both routes', () => first.requests.length > 20 && second.requests.length > 20);

    const previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', file(exchange, [route('keep', exchange, keep)]));
    const report = await nextReload(h.warren, previous);
    expect(report).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(report.routes).toEqual([{ route: 'gone', change: 'removed', ok: true }]);
    const keptAtReload = kept.published.length;

    // The removed route's binding is gone: its messages come back unroutable.
    await waitFor('invoices to be unroutable', () => mandatory.returned.size > 5);
    await waitFor('the removed consumer to stop', async () => (await h.broker.consumers(gone.queue)) === 0);
    await waitFor('the old consumer drained', () =>
      h.warren!.logs.some((l) => l.event === 'consumer_drained' && l.route === 'gone'),
    );
    await waitFor('the remaining route to keep delivering', () => {
      return ids(first).filter((id) => kept.published.indexOf(id) >= keptAtReload).length > 20;
    });
    await kept.stop();
    await mandatory.stop();

    // A reload never deletes a queue: whatever was not delivered waits in it.
    expect(await h.broker.consumers(gone.queue)).toBe(0);
    const stillQueued = (await h.broker.drain(gone.queue)).map((m) => String(m.properties.messageId));
    const routed = mandatory.routed();
    expect(accounting(routed, ids(second), stillQueued).lost).toEqual([]);
    expect(accounting(routed, ids(second)).duplicates).toBe(0);
    expect(ids(second).every((id) => routed.includes(id))).toBe(true);

    await waitFor('the remaining route got everything', () => {
      return accounting(kept.published, ids(first)).lost.length === 0;
    });
    expect(accounting(kept.published, ids(first)).duplicates).toBe(0);
    expect(await h.broker.consumers(keep.queue)).toBe(1);
  });

  it('(d) changes bindings: the new binding delivers, the removed one is unbound, nothing lost', async () => {
    const before = { queue: uniqueName('reload.bind'), keys: ['order.#'], url: first.url() };
    const after = { ...before, keys: ['order.created.#', 'invoice.#'] };
    h.warren = await startWarren(
      { 'r.yaml': file(exchange, [route('orders', exchange, before)]) },
      h.broker,
      {
        watch: true,
      },
    );
    const mandatory = await MandatoryPublisher.open(h.broker, exchange, 'order.updated', 'probe');
    h.defer(() => mandatory.close());
    expect(await mandatory.probe('old-key-before')).toBe(true);
    await waitFor('the old-key message', () => ids(first).includes('old-key-before'));

    const publisher = h.publisher(exchange, 'order.created.eu', 'd');
    publisher.start();
    await waitFor('traffic', () => first.requests.length > 20);
    const previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', file(exchange, [route('orders', exchange, after)]));
    const report = await nextReload(h.warren, previous);
    expect(report).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(report.routes).toEqual([{ route: 'orders', change: 'source', ok: true }]);
    const atReload = publisher.published.length;

    // Only the old binding matched `order.updated`: no queue takes it any more.
    expect(await mandatory.probe('old-key-after')).toBe(false);
    await h.broker.publish(exchange, 'invoice.paid', '{}', { messageId: 'new-binding' });
    await waitFor('the message for the new binding', () => ids(first).includes('new-binding'));
    await waitFor('traffic after the reload', () => {
      return ids(first).filter((id) => publisher.published.indexOf(id) >= atReload).length > 20;
    });
    await publisher.stop();

    await waitFor('everything on the still-bound key', () => {
      return accounting(publisher.published, ids(first)).lost.length === 0;
    });
    expect(accounting(publisher.published, ids(first)).duplicates).toBe(0);
    expect(ids(first)).not.toContain('old-key-after');
    await waitFor('only the new consumer left', async () => (await h.broker.consumers(before.queue)) === 1);
  });

  it('swaps a retry change in place: the new delay tier is declared and used, the consumer kept', async () => {
    const queue = uniqueName('reload.retry');
    const retry = (backoff: string) => `\n    retry: { attempts: 3, backoff: [${backoff}] }`;
    const spec = (backoff: string) => ({ queue, keys: ['order.#'], url: first.url(), extra: retry(backoff) });
    // The probe fails once: it comes back only through a delay tier.
    first.responder = (req) =>
      req.headers['webhook-id'] === 'probe' && req.headers['x-warren-attempt'] === '1' ? 503 : 200;
    h.warren = await startWarren(
      { 'r.yaml': file(exchange, [route('orders', exchange, spec('1h'))]) },
      h.broker,
      {
        watch: true,
      },
    );
    const oldTiers = h.warren.runtime.describe().routes[0]!.retryQueues;
    const newTier = `warren.retry.${queue}.200ms`;
    h.broker.track('queue', newTier);
    expect(await h.broker.consumers(newTier)).toBeUndefined();

    const publisher = h.publisher(exchange, 'order.created', 'r');
    publisher.start();
    await waitFor('traffic', () => first.requests.length > 20);
    const logFrom = h.warren.logs.length;
    const previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', file(exchange, [route('orders', exchange, spec('200ms'))]));
    const report = await nextReload(h.warren, previous);
    expect(report).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(report.routes).toEqual([{ route: 'orders', change: 'handler', ok: true }]);
    expect(oldTiers).toEqual([`warren.retry.${queue}.1h`]);
    expect(h.warren.runtime.describe().routes[0]!.retryQueues).toEqual([newTier]);
    expect(await h.broker.consumers(newTier)).toBe(0);

    // Under the old policy the probe would wait an hour in the 1h tier.
    await h.broker.publish(exchange, 'order.created', '{}', { messageId: 'probe' });
    await waitFor('the probe retried through the new tier', () =>
      first.requests.some(
        (r) => r.headers['webhook-id'] === 'probe' && r.headers['x-warren-attempt'] === '2',
      ),
    );
    await publisher.stop();
    // The probe was delivered twice on purpose; the steady traffic must not be.
    const steadyIds = () => ids(first).filter((id) => id !== 'probe');
    await waitFor(
      'everything delivered',
      () => accounting(publisher.published, steadyIds()).lost.length === 0,
    );
    expect(accounting(publisher.published, steadyIds()).duplicates).toBe(0);
    expect(consumerChanges(h.warren, 'orders', logFrom)).toEqual([]);
    expect(first.requests.filter((r) => r.headers['x-warren-redelivered'] !== 'false')).toEqual([]);
    expect(await h.broker.consumers(queue)).toBe(1);
  });

  it('changes prefetch: a new consumer first, the old one drained, nothing lost or twice', async () => {
    const queue = uniqueName('reload.prefetch');
    const spec = (prefetch: number) => ({
      queue,
      keys: ['order.#'],
      url: first.url(),
      extra: `\n    prefetch: ${prefetch}`,
    });
    h.warren = await startWarren(
      { 'r.yaml': file(exchange, [route('orders', exchange, spec(4))]) },
      h.broker,
      {
        watch: true,
      },
    );
    const publisher = h.publisher(exchange, 'order.created', 'p', { perTick: 4 });
    publisher.start();
    await waitFor('traffic', () => first.requests.length > 20);
    const previous = h.warren.runtime.lastReload;
    await replaceFile(h.warren.dir, 'r.yaml', file(exchange, [route('orders', exchange, spec(50))]));
    const report = await nextReload(h.warren, previous);
    expect(report).toMatchObject({ trigger: 'watch', result: 'applied' });
    expect(report.routes).toEqual([{ route: 'orders', change: 'source', ok: true }]);
    expect(h.warren.runtime.describe().routes[0]!.prefetch).toBe(50);
    const drained = await waitFor('the old consumer drained', () =>
      h.warren!.logs.find((l) => l.event === 'consumer_drained' && l.route === 'orders'),
    );
    expect(drained.unfinished).toBe(0);
    const atReload = publisher.published.length;
    await waitFor('traffic on the new consumer', () => {
      return ids(first).filter((id) => publisher.published.indexOf(id) >= atReload).length > 20;
    });
    await publisher.stop();

    await waitFor(
      'everything delivered',
      () => accounting(publisher.published, ids(first)).lost.length === 0,
    );
    expect(accounting(publisher.published, ids(first)).duplicates).toBe(0);
    expect(await h.broker.consumers(queue)).toBe(1);
  });
});
