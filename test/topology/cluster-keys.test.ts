import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { type Plan, planTopology } from '../../src/topology/plan.js';
import { formatPlan } from '../../src/topology/print.js';
import { lines, useTempDirs } from '../config/route-dir.js';

/** Issue 11's queue keys in the plan: `replicas` and `singleActiveConsumer` become queue arguments. */
describe('replicas and singleActiveConsumer in the plan', () => {
  const tmp = useTempDirs();
  const webhook = '    to: { webhook: { url: "http://billing.internal/" } }';

  async function planOf(...rows: string[]): Promise<Plan> {
    const dir = await tmp.routes({ 'r.yaml': lines(...rows) });
    const result = await loadConfig(dir, {});
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return planTopology(result.config);
  }

  it('gives from.replicas to the source queue, its delay tiers and its DLQ; none without it', async () => {
    const plan = await planOf(
      'routes:',
      '  r:',
      '    from: { queue: billing.q, replicas: 3 }',
      '    retry: { attempts: 2, backoff: [1s] }',
      webhook,
      '  plain:',
      '    from: { queue: plain.q }',
      webhook,
    );
    const [route, plain] = plan.routes;
    expect(route!.queues.map((q) => [q.role, q.arguments['x-quorum-initial-group-size']])).toEqual([
      ['source', 3],
      ['dead-letter', 3],
      ['retry', 3],
    ]);
    for (const q of plain!.queues) expect(q.arguments).not.toHaveProperty('x-quorum-initial-group-size');
  });

  it('takes replicas from the queues: entry, for a consumed queue and a standalone one', async () => {
    const plan = await planOf(
      'queues:',
      '  billing.q: { replicas: 5 }',
      '  audit.q: { replicas: 2 }',
      'routes:',
      '  r:',
      '    from: { queue: billing.q }',
      webhook,
    );
    expect(plan.routes[0]!.queues[0]!.arguments['x-quorum-initial-group-size']).toBe(5);
    expect(plan.queues[0]!.arguments).toEqual({ 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 2 });
  });

  it('declares a singleActiveConsumer route’s queue with x-single-active-consumer, concurrency 1 by default', async () => {
    const plan = await planOf(
      'routes:',
      '  r:',
      '    from: { queue: billing.q }',
      '    prefetch: 50',
      '    singleActiveConsumer: true',
      webhook,
      '  loose:',
      '    from: { queue: loose.q }',
      '    singleActiveConsumer: true',
      '    ordered: false',
      '    concurrency: 4',
      webhook,
    );
    const [route, loose] = plan.routes;
    expect(route!.queues[0]!.arguments['x-single-active-consumer']).toBe(true);
    expect(route!.queues[1]!.arguments).not.toHaveProperty('x-single-active-consumer');
    expect(route!).toMatchObject({ singleActiveConsumer: true, prefetch: 50, concurrency: 1 });
    expect(loose!).toMatchObject({ singleActiveConsumer: true, concurrency: 4 });
    expect(formatPlan(plan)).toContain('consume billing.q prefetch=50 concurrency=1 single-active-consumer');
    expect(formatPlan(plan)).toMatch(/queue {3}billing\.q \[source\].* x-single-active-consumer=true/);
  });

  it('restarts the consumer when singleActiveConsumer or replicas change (the source fingerprint)', async () => {
    const base = ['routes:', '  r:', '    from: { queue: billing.q }', webhook];
    const plain = (await planOf(...base)).routes[0]!;
    const single = (await planOf(...base, '    singleActiveConsumer: true')).routes[0]!;
    const three = (await planOf('routes:', '  r:', '    from: { queue: billing.q, replicas: 3 }', webhook))
      .routes[0]!;
    expect(new Set([plain, single, three].map((r) => r.sourceFingerprint)).size).toBe(3);
  });
});
