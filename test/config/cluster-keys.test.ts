import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { lines, useTempDirs } from './route-dir.js';

/** Issue 11's keys: `replicas` (quorum only, one value per queue) and ordered single-active routes. */
describe('replicas, singleActiveConsumer and ordered', () => {
  const tmp = useTempDirs();
  const webhook = '    to: { webhook: { url: "http://billing.internal/" } }';

  async function errors(files: Record<string, string>): Promise<string[]> {
    const dir = await tmp.routes(files);
    const result = await loadConfig(dir, {});
    expect(result.ok, 'the files should be invalid').toBe(false);
    return result.ok ? [] : result.issues.map((i) => formatIssue(i).replaceAll(`${dir}/`, ''));
  }

  it('normalises the keys: a singleActiveConsumer route is ordered with one handler by default', async () => {
    const dir = await tmp.routes({
      'r.yaml': lines(
        'queues:',
        '  billing.q: { replicas: 3 }',
        'routes:',
        '  r:',
        '    from: { queue: billing.q }',
        '    singleActiveConsumer: true',
        webhook,
        '  other:',
        '    from: { queue: other.q, replicas: 5 }',
        webhook,
      ),
    });
    const result = await loadConfig(dir, {});
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(result.config.queues[0]).toMatchObject({ name: 'billing.q', replicas: 3 });
    const [r, other] = result.config.routes;
    expect(r).toMatchObject({ singleActiveConsumer: true, ordered: true, concurrency: 1, prefetch: 32 });
    expect(r).not.toHaveProperty('replicas');
    expect(other).toMatchObject({
      replicas: 5,
      singleActiveConsumer: false,
      ordered: false,
      concurrency: 32,
    });
  });

  it('refuses replicas beside the argument it sets, which would otherwise win on the queue alone', async () => {
    expect(
      await errors({
        'a.yaml': lines(
          'queues:',
          '  billing.q:',
          '    replicas: 3',
          '    arguments: { x-quorum-initial-group-size: 5 }',
        ),
      }),
    ).toEqual([
      'a.yaml:4:18 x-quorum-initial-group-size is what replicas sets: give the number once, as replicas (it also reaches the delay tiers and the dead-letter queue) (at /queues/billing.q/arguments/x-quorum-initial-group-size)',
    ]);
  });

  it('refuses replicas on a classic queue: on its queues: entry and on a route reading it from another file', async () => {
    expect(
      await errors({
        'a.yaml': lines(
          'queues:',
          '  audit.q: { type: classic, replicas: 3 }',
          '  billing.q: { type: classic }',
        ),
        'b.yaml': lines('routes:', '  r:', '    from: { queue: billing.q, replicas: 3 }', webhook),
      }),
    ).toEqual([
      'a.yaml:2:39 replicas sets x-quorum-initial-group-size, which only a quorum queue has: this queue is type: classic (at /queues/audit.q/replicas)',
      'b.yaml:3:41 replicas sets x-quorum-initial-group-size, which only a quorum queue has: queue `billing.q` is type: classic (a.yaml:3) (at /routes/r/from/replicas)',
    ]);
  });

  it('refuses two replicas values for one queue, and for a dead-letter queue two routes share', async () => {
    expect(
      await errors({
        'r.yaml': lines(
          'queues:',
          '  billing.q: { replicas: 3 }',
          'routes:',
          '  r:',
          '    from: { queue: billing.q, replicas: 5 }',
          webhook,
          '  s:',
          '    from: { queue: s.q, replicas: 3 }',
          '    deadLetter: { queue: shared.dlq }',
          webhook,
          '  t:',
          '    from: { queue: t.q }',
          '    deadLetter: { queue: shared.dlq }',
          webhook,
        ),
      }),
    ).toEqual([
      'r.yaml:5:41 replicas 5 differs from the replicas 3 of queue `billing.q` (r.yaml:2); set it in one place (at /routes/r/from/replicas)',
      "r.yaml:13:26 dead-letter queue `shared.dlq` is shared with route `s` (r.yaml:9), which gives it replicas 3, this route (the broker's): the second declaration would fail (at /routes/t/deadLetter/queue)",
    ]);
  });

  it('refuses concurrency > 1 on an ordered singleActiveConsumer route, and ordered without it', async () => {
    expect(
      await errors({
        'r.yaml': lines(
          'routes:',
          '  r:',
          '    from: { queue: billing.q }',
          '    singleActiveConsumer: true',
          '    concurrency: 4',
          webhook,
          '  s:',
          '    from: { queue: s.q }',
          '    ordered: true',
          webhook,
        ),
      }),
    ).toEqual([
      'r.yaml:5:18 concurrency 4 runs that many deliveries of this singleActiveConsumer route at once, so they finish out of order: set concurrency: 1 (the default for such a route), or ordered: false to accept it (at /routes/r/concurrency)',
      'r.yaml:9:14 ordered applies to a singleActiveConsumer route only: without singleActiveConsumer: true every replica consumes the queue at once and no order is kept (at /routes/s/ordered)',
    ]);
  });

  it('refuses replicas 0 and a singleActiveConsumer that is not a boolean (the schema)', async () => {
    const found = await errors({
      'r.yaml': lines(
        'routes:',
        '  r:',
        '    from: { queue: q, replicas: 0 }',
        '    singleActiveConsumer: "yes"',
        webhook,
      ),
    });
    expect(found.some((e) => e.includes('/routes/r/from/replicas'))).toBe(true);
    expect(found.some((e) => e.includes('/routes/r/singleActiveConsumer'))).toBe(true);
  });
});
