import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import {
  delayForAttempt,
  type Plan,
  planTopology,
  type RoutePlan,
  retryTierQueue,
} from '../../src/topology/plan.js';
import { lines, useTempDirs } from '../config/route-dir.js';

describe('planTopology', () => {
  const tmp = useTempDirs();

  async function planOf(text: string): Promise<Plan> {
    const dir = await tmp.routes({ 'r.yaml': text });
    const result = await loadConfig(dir, {});
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return planTopology(result.config);
  }

  async function routePlanOf(routeBody: string[], preamble: string[] = []): Promise<RoutePlan> {
    const plan = await planOf(lines(...preamble, 'routes:', '  r:', ...routeBody.map((row) => `    ${row}`)));
    return plan.routes[0]!;
  }

  const queueNamed = (route: RoutePlan, name: string) => route.queues.find((q) => q.name === name);
  const webhook = 'to: { webhook: { url: "http://billing.internal/" } }';

  it('declares the source queue as quorum with the poison guard: delivery limit 10, dead-lettering to the DLQ', async () => {
    const route = await routePlanOf(['from: { queue: billing.q }', webhook]);

    expect(route.queues[0]).toEqual({
      name: 'billing.q',
      durable: true,
      role: 'source',
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 10,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': 'billing.q.dlq',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });

  it('uses the route’s deliveryLimit for x-delivery-limit', async () => {
    const route = await routePlanOf(['from: { queue: billing.q }', 'deliveryLimit: 3', webhook]);

    expect(queueNamed(route, 'billing.q')?.arguments['x-delivery-limit']).toBe(3);
  });

  it('always declares a quorum DLQ named <queue>.dlq unless the route names one', async () => {
    const byDefault = await routePlanOf(['from: { queue: billing.q }', webhook]);
    const named = await routePlanOf([
      'from: { queue: billing.q }',
      webhook,
      'deadLetter: { queue: billing.failed }',
    ]);

    expect(byDefault.deadLetterQueue).toBe('billing.q.dlq');
    expect(queueNamed(byDefault, 'billing.q.dlq')).toEqual({
      name: 'billing.q.dlq',
      durable: true,
      role: 'dead-letter',
      arguments: { 'x-queue-type': 'quorum' },
    });
    expect(named.deadLetterQueue).toBe('billing.failed');
    expect(queueNamed(named, 'billing.failed')?.role).toBe('dead-letter');
    expect(queueNamed(named, 'billing.q')?.arguments['x-dead-letter-routing-key']).toBe('billing.failed');
  });

  it('declares one delay tier per distinct backoff value, dead-lettering back to the source queue', async () => {
    const route = await routePlanOf([
      'from: { queue: billing.q }',
      webhook,
      'retry: { attempts: 6, backoff: [5s, 30s, 5s, 2m, 120000] }',
    ]);

    expect(route.tiers).toEqual([
      { delayMs: 5_000, queue: 'warren.retry.billing.q.5s' },
      { delayMs: 30_000, queue: 'warren.retry.billing.q.30s' },
      { delayMs: 120_000, queue: 'warren.retry.billing.q.2m' },
    ]);
    expect(route.queues.filter((q) => q.role === 'retry').map((q) => q.name)).toEqual(
      route.tiers.map((t) => t.queue),
    );
    expect(queueNamed(route, 'warren.retry.billing.q.30s')).toEqual({
      name: 'warren.retry.billing.q.30s',
      durable: true,
      role: 'retry',
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': 30_000,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': 'billing.q',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });

  it('plans the default retry policy’s tiers for a route without `retry`', async () => {
    const route = await routePlanOf(['from: { queue: billing.q }', webhook]);

    expect(route.retry).toEqual({ attempts: 5, backoffMs: [1_000, 10_000, 60_000, 300_000] });
    expect(route.tiers.map((t) => t.queue)).toEqual([
      'warren.retry.billing.q.1s',
      'warren.retry.billing.q.10s',
      'warren.retry.billing.q.1m',
      'warren.retry.billing.q.5m',
    ]);
  });

  it('declares no delay tier for a route with a single attempt', async () => {
    const route = await routePlanOf(['from: { queue: billing.q }', webhook, 'retry: { attempts: 1 }']);

    expect(route.tiers).toEqual([]);
    expect(route.queues.map((q) => q.role)).toEqual(['source', 'dead-letter']);
  });

  it('declares a classic source queue without x-queue-type and without the poison guard', async () => {
    const route = await routePlanOf(
      ['from: { queue: legacy.q }', webhook],
      ['queues:', '  legacy.q: { type: classic }'],
    );

    expect(queueNamed(route, 'legacy.q')).toEqual({
      name: 'legacy.q',
      durable: true,
      role: 'source',
      arguments: {},
    });
    // Its DLQ and tiers are Warren's own queues, quorum regardless.
    expect(queueNamed(route, 'legacy.q.dlq')?.arguments).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('merges a `queues:` entry into the route that consumes it: type, arguments and bindings', async () => {
    const plan = await planOf(
      lines(
        'exchanges:',
        '  orders: { type: topic }',
        '  events: { type: headers }',
        'queues:',
        '  billing.q:',
        '    arguments: { x-max-length: 100000 }',
        '    bind: [{ exchange: orders, key: "order.#" }]',
        '  audit.all:',
        '    bind: [{ exchange: orders, key: "#" }]',
        'routes:',
        '  billing:',
        '    from:',
        '      queue: billing.q',
        '      bind: [{ exchange: events, headers: { kind: invoice } }]',
        `    ${webhook}`,
      ),
    );
    const route = plan.routes[0]!;

    expect(queueNamed(route, 'billing.q')?.arguments).toMatchObject({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 10,
      'x-max-length': 100000,
    });
    expect(route.bindings).toEqual([
      { exchange: 'orders', key: 'order.#', destination: 'billing.q', destinationKind: 'queue' },
      {
        exchange: 'events',
        key: '',
        headers: { 'x-match': 'all', kind: 'invoice' },
        destination: 'billing.q',
        destinationKind: 'queue',
      },
    ]);
    expect(route.exchanges).toEqual(['orders', 'events']);
    // Only the queue no route consumes is declared on its own.
    expect(plan.queues.map((q) => q.name)).toEqual(['audit.all']);
    expect(plan.queueBindings).toEqual([
      { exchange: 'orders', key: '#', destination: 'audit.all', destinationKind: 'queue' },
    ]);
  });

  it('plans exchange-to-exchange bindings with the exchange as destination', async () => {
    const plan = await planOf(
      lines(
        'exchanges:',
        '  orders: { type: topic }',
        '  orders.eu: { type: topic, bind: [{ exchange: orders, key: "order.*.eu" }] }',
      ),
    );

    expect(plan.exchangeBindings).toEqual([
      { exchange: 'orders', key: 'order.*.eu', destination: 'orders.eu', destinationKind: 'exchange' },
    ]);
  });

  it('carries prefetch and caps concurrency at it', async () => {
    const route = await routePlanOf(['from: { queue: q }', 'prefetch: 16', 'concurrency: 64', webhook]);

    expect([route.prefetch, route.concurrency]).toEqual([16, 16]);
  });
});

describe('delayForAttempt', () => {
  const policy = { attempts: 10, backoffMs: [1_000, 5_000, 60_000] };

  it.each([
    [1, 1_000],
    [2, 5_000],
    [3, 60_000],
  ])('waits the backoff value of retry %i', (attempt, delay) => {
    expect(delayForAttempt(policy, attempt)).toBe(delay);
  });

  it('repeats the last backoff value for every later retry', () => {
    expect([4, 5, 9].map((attempt) => delayForAttempt(policy, attempt))).toEqual([60_000, 60_000, 60_000]);
  });
});

describe('planning at scale', () => {
  const tmp = useTempDirs();
  const perFile = 100;
  const files = 10;
  const total = perFile * files;
  /** Route n's backoff: 1 s, n mod 60 s, 5 m; the middle one repeats the first when n mod 60 = 1. */
  const backoffMs = (n: number): number[] => [1_000, (n % 60) * 1_000, 300_000];

  /** Ten files of 100 routes each, every route with its own queue, key, prefetch, target and backoff. */
  async function writeScale(): Promise<string> {
    const dir = await tmp.make('warren-scale-');
    for (let f = 0; f < files; f++) {
      const rows = ['exchanges:', `  ex${f}: { type: topic }`, 'routes:'];
      for (let r = 0; r < perFile; r++) {
        const n = f * perFile + r;
        rows.push(
          `  route-${n}:`,
          `    from: { queue: q.${n}, bind: [{ exchange: ex${f}, key: "k.${n}.#" }] }`,
          `    prefetch: ${1 + (n % 100)}`,
          n % 2
            ? `    to: { webhook: { url: "http://svc-${n}.internal/hook", timeout: ${1 + (n % 30)}s } }`
            : `    to: { republish: { exchange: ex${f}, routingKey: "out.{{routingKey}}" } }`,
          `    retry: { attempts: 5, backoff: [1s, ${n % 60}s, 5m] }`,
        );
      }
      await writeFile(join(dir, `${String(f).padStart(2, '0')}.yaml`), lines(...rows));
    }
    return dir;
  }

  async function planDir(dir: string): Promise<Plan> {
    const result = await loadConfig(dir, {});
    expect(result.ok ? [] : result.issues.slice(0, 3).map(formatIssue)).toEqual([]);
    return planTopology((result as Extract<typeof result, { ok: true }>).config);
  }

  it('plans 1,000 routes: every route with its queue, binding, prefetch, target, tiers and DLQ', async () => {
    const plan = await planDir(await writeScale());

    expect(plan.exchanges.map((x) => x.name).sort()).toEqual(
      Array.from({ length: files }, (_, f) => `ex${f}`).sort(),
    );
    expect(plan.queues).toEqual([]);
    expect(plan.routes).toHaveLength(total);
    const byName = new Map(plan.routes.map((r) => [r.name, r]));
    for (let n = 0; n < total; n++) {
      const route = byName.get(`route-${n}`);
      expect(route, `route-${n}`).toBeDefined();
      const delays = [...new Set(backoffMs(n))].sort((a, b) => a - b);
      expect(route).toMatchObject({
        queue: `q.${n}`,
        prefetch: 1 + (n % 100),
        target: { kind: n % 2 ? 'webhook' : 'republish' },
        deadLetterQueue: `q.${n}.dlq`,
        tiers: delays.map((delayMs) => ({ delayMs, queue: retryTierQueue(`q.${n}`, delayMs) })),
      });
      expect(route!.bindings).toEqual([
        {
          exchange: `ex${Math.floor(n / perFile)}`,
          key: `k.${n}.#`,
          destination: `q.${n}`,
          destinationKind: 'queue',
        },
      ]);
      expect(route!.queues.map((q) => [q.name, q.role]).sort()).toEqual(
        [
          [`q.${n}`, 'source'],
          [`q.${n}.dlq`, 'dead-letter'],
          ...delays.map((d) => [retryTierQueue(`q.${n}`, d), 'retry']),
        ].sort(),
      );
    }
    // Source + DLQ for each route, and one tier per distinct delay: 3, or 2 where n mod 60 = 1.
    const declared = plan.routes.flatMap((r) => r.queues.map((q) => q.name));
    const oneSecondTwice = Array.from({ length: total }, (_, n) => n).filter((n) => n % 60 === 1).length;
    expect(declared).toHaveLength(total * 5 - oneSecondTwice);
    expect(new Set(declared).size).toBe(declared.length);
    expect(new Set(plan.routes.map((r) => r.fingerprint)).size).toBe(total);
  });

  it('plans the same 1,000 routes the same way every time', async () => {
    const dir = await writeScale();
    const first = await planDir(dir);
    const second = await planDir(dir);
    expect(second).toEqual(first);
    expect(second.routes.map((r) => r.fingerprint)).toEqual(first.routes.map((r) => r.fingerprint));
  });
});
