import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { diffPlans, planBindings, type TopologyDiff, unbindsWithout } from '../../src/topology/diff.js';
import { emptyPlan, type Plan, planTopology } from '../../src/topology/plan.js';
import { lines, useTempDirs } from '../config/route-dir.js';

const exchanges = ['exchanges:', '  orders: { type: topic }', '  events: { type: headers }'];

const billing = [
  '  billing:',
  '    from:',
  '      queue: billing.q',
  '      bind:',
  '        - { exchange: orders, key: "order.created.#" }',
  '        - { exchange: events, headers: { x-match: all, kind: invoice } }',
  '    prefetch: 64',
  '    to: { webhook: { url: "http://billing.internal/hooks", timeout: 5s } }',
  '    retry: { attempts: 4, backoff: [1s, 10s] }',
];

const audit = [
  '  audit:',
  '    from: { queue: audit.q, bind: [{ exchange: orders, key: "#" }] }',
  '    to: { republish: { exchange: archive } }',
];

const base = lines(...exchanges, 'routes:', ...billing, ...audit);

/** Names per category, so a failure shows where every route went. */
function summary(diff: TopologyDiff) {
  const names = (list: Array<{ name: string }>) => list.map((r) => r.name);
  return {
    add: names(diff.routes.add),
    changeHandler: names(diff.routes.changeHandler),
    changeSource: names(diff.routes.changeSource),
    remove: names(diff.routes.remove),
    unchanged: names(diff.routes.unchanged),
  };
}

describe('diffPlans', () => {
  const tmp = useTempDirs();

  async function planOf(files: Record<string, string>): Promise<Plan> {
    const dir = await tmp.routes(files);
    const result = await loadConfig(dir, {});
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return planTopology(result.config);
  }

  /** The diff from `base` to the same file with `edit` applied to its text. */
  async function diffAfter(edit: (text: string) => string): Promise<TopologyDiff> {
    const edited = edit(base);
    expect(edited, 'the edit must change the file').not.toBe(base);
    return diffPlans(await planOf({ 'r.yaml': base }), await planOf({ 'r.yaml': edited }));
  }

  it('adds every route when diffed against the empty plan', async () => {
    const plan = await planOf({ 'r.yaml': base });

    const diff = diffPlans(emptyPlan, plan);

    expect(summary(diff)).toEqual({
      add: ['billing', 'audit'],
      changeHandler: [],
      changeSource: [],
      remove: [],
      unchanged: [],
    });
    expect(diff.unbind).toEqual([]);
  });

  it('leaves every route unchanged between two plans of the same files', async () => {
    const diff = diffPlans(await planOf({ 'r.yaml': base }), await planOf({ 'r.yaml': base }));

    expect(summary(diff)).toEqual({
      add: [],
      changeHandler: [],
      changeSource: [],
      remove: [],
      unchanged: ['billing', 'audit'],
    });
    expect(diff.unbind).toEqual([]);
  });

  it('swaps only the handler when the target changes', async () => {
    const diff = await diffAfter((t) =>
      t.replace('http://billing.internal/hooks', 'http://billing.internal/v2'),
    );

    expect(summary(diff)).toMatchObject({
      changeHandler: ['billing'],
      changeSource: [],
      unchanged: ['audit'],
    });
    expect(diff.routes.changeHandler[0]?.target).toMatchObject({ url: 'http://billing.internal/v2' });
  });

  it('swaps only the handler when the number of attempts changes', async () => {
    const diff = await diffAfter((t) => t.replace('attempts: 4', 'attempts: 8'));

    expect(summary(diff)).toMatchObject({
      changeHandler: ['billing'],
      changeSource: [],
      unchanged: ['audit'],
    });
  });

  it.each([
    ['a filter', '    prefetch: 64', '    prefetch: 64\n    when: { headers: { region: eu } }'],
    ['a rate limit', '    prefetch: 64', '    prefetch: 64\n    rateLimit: { rate: 50 }'],
    ['the signing key', 'timeout: 5s', 'timeout: 5s, sign: { secret: whsec_c2VjcmV0 }'],
    ['the circuit breaker', 'timeout: 5s', 'timeout: 5s, circuit: false'],
    ['the body mode', 'timeout: 5s', 'timeout: 5s, body: envelope'],
    ['the status policy', 'timeout: 5s', 'timeout: 5s, retryOn: [409]'],
  ])('swaps only the handler when %s changes', async (_what, from, to) => {
    const diff = await diffAfter((t) => t.replace(from, to));

    expect(summary(diff)).toMatchObject({
      changeHandler: ['billing'],
      changeSource: [],
      unchanged: ['audit'],
    });
  });

  it('restarts the consumer when a binding changes, and unbinds the old binding', async () => {
    const diff = await diffAfter((t) => t.replace('order.created.#', 'order.paid.#'));

    expect(summary(diff)).toMatchObject({
      changeHandler: [],
      changeSource: ['billing'],
      unchanged: ['audit'],
    });
    expect(diff.unbind).toEqual([
      { exchange: 'orders', key: 'order.created.#', destination: 'billing.q', destinationKind: 'queue' },
    ]);
  });

  it('restarts the consumer when prefetch changes', async () => {
    const diff = await diffAfter((t) => t.replace('prefetch: 64', 'prefetch: 128'));

    expect(summary(diff)).toMatchObject({
      changeHandler: [],
      changeSource: ['billing'],
      unchanged: ['audit'],
    });
    expect(diff.unbind).toEqual([]);
  });

  it('removes a route that is gone and unbinds its bindings', async () => {
    const diff = diffPlans(
      await planOf({ 'r.yaml': base }),
      await planOf({ 'r.yaml': lines(...exchanges, 'routes:', ...billing) }),
    );

    expect(summary(diff)).toEqual({
      add: [],
      changeHandler: [],
      changeSource: [],
      remove: ['audit'],
      unchanged: ['billing'],
    });
    expect(diff.unbind).toEqual([
      { exchange: 'orders', key: '#', destination: 'audit.q', destinationKind: 'queue' },
    ]);
  });

  it('unbinds exactly the binding a route dropped, headers match included', async () => {
    const diff = await diffAfter((t) =>
      t.replace('        - { exchange: events, headers: { x-match: all, kind: invoice } }\n', ''),
    );

    expect(summary(diff).changeSource).toEqual(['billing']);
    expect(diff.unbind).toEqual([
      {
        exchange: 'events',
        key: '',
        headers: { 'x-match': 'all', kind: 'invoice' },
        destination: 'billing.q',
        destinationKind: 'queue',
      },
    ]);
  });

  it('unbinds a dropped exchange-to-exchange binding', async () => {
    const withE2e = lines(
      'exchanges:',
      '  orders: { type: topic }',
      '  orders.eu: { type: topic, bind: [{ exchange: orders, key: "order.*.eu" }] }',
    );
    const without = lines('exchanges:', '  orders: { type: topic }', '  orders.eu: { type: topic }');

    const diff = diffPlans(await planOf({ 'r.yaml': withE2e }), await planOf({ 'r.yaml': without }));

    expect(diff.unbind).toEqual([
      { exchange: 'orders', key: 'order.*.eu', destination: 'orders.eu', destinationKind: 'exchange' },
    ]);
  });

  describe('unbindsWithout', () => {
    /** What runs when the routes named in `notApplied` kept their previous version. */
    const runningAfter = (previous: Plan, next: Plan, notApplied: string[]): Plan => ({
      ...next,
      routes: next.routes.map((r) =>
        notApplied.includes(r.name) ? previous.routes.find((p) => p.name === r.name)! : r,
      ),
    });
    const keys = (list: Array<{ key: string; destination: string }>) =>
      list.map((b) => `${b.destination} ${b.key}`).sort();

    it("is the diff's unbinds when every new version applied", async () => {
      const previous = await planOf({ 'r.yaml': base });
      const next = await planOf({ 'r.yaml': base.replace('order.created.#', 'order.paid.#') });
      const diff = diffPlans(previous, next);

      expect(unbindsWithout(diff, previous, [])).toEqual(diff.unbind);
    });

    it('drops a binding that only a new version which did not apply kept', async () => {
      const standalone = lines('queues:', '  audit.q: { bind: [{ exchange: orders, key: "#" }] }');
      const auditElsewhere = audit.map((l) =>
        l.replace('queue: audit.q', 'queue: audit.old').replace('"#"', '"x"'),
      );
      const previous = await planOf({
        'r.yaml': lines(...exchanges, standalone, 'routes:', ...billing, ...auditElsewhere),
      });
      // The standalone queue's binding moves to the route, whose new version then fails.
      const next = await planOf({ 'r.yaml': base });
      const diff = diffPlans(previous, next);
      const notApplied = diff.routes.changeSource.filter((r) => r.name === 'audit');
      expect(notApplied).toHaveLength(1);

      const unbind = unbindsWithout(diff, previous, notApplied);

      expect(keys(unbind)).toContain('audit.q #');
      // Less what the running routes still bind, that is everything no longer running.
      const running = runningAfter(previous, next, ['audit']);
      const stillBound = new Set(keys(planBindings(running)));
      expect(keys(unbind).filter((k) => !stillBound.has(k))).toEqual(
        keys(diffPlans(previous, running).unbind),
      );
    });
  });

  it('gives the same fingerprints whatever the key order in the YAML or the spelling of a duration', async () => {
    const reordered = lines(
      'routes:',
      '  audit:',
      '    to: { republish: { exchange: archive } }',
      '    from: { bind: [{ key: "#", exchange: orders }], queue: audit.q }',
      '  billing:',
      '    retry: { backoff: [1s, 10s], attempts: 4 }',
      '    to: { webhook: { timeout: 5000, url: "http://billing.internal/hooks" } }',
      '    prefetch: 64',
      '    from:',
      '      bind:',
      '        - { key: "order.created.#", exchange: orders }',
      '        - { headers: { kind: invoice, x-match: all }, exchange: events }',
      '      queue: billing.q',
      'exchanges:',
      '  events: { type: headers }',
      '  orders: { type: topic }',
    );

    const before = await planOf({ 'r.yaml': base });
    const after = await planOf({ 'r.yaml': reordered });
    const prints = (plan: Plan) =>
      Object.fromEntries(plan.routes.map((r) => [r.name, [r.fingerprint, r.sourceFingerprint]]));

    expect(prints(after)).toEqual(prints(before));
    expect(summary(diffPlans(before, after)).unchanged.sort()).toEqual(['audit', 'billing']);
    expect(diffPlans(before, after).unbind).toEqual([]);
  });

  it('leaves a route unchanged when it only moves to another file', async () => {
    const before = await planOf({ 'r.yaml': base });
    const after = await planOf({
      'a.yaml': lines(...exchanges),
      'b.yaml': lines('# moved here', '', 'routes:', ...audit),
      'c.yaml': lines('routes:', ...billing),
    });

    expect(summary(diffPlans(before, after))).toMatchObject({
      changeHandler: [],
      changeSource: [],
      unchanged: ['audit', 'billing'],
    });
  });
});
