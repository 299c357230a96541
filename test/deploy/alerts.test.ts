import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { uniqueName } from '../helpers/broker.js';
import { metricsText } from '../helpers/metrics.js';
import { startWarren, useHarness } from '../helpers/warren.js';
import { dashboardExprs, dashboardFile, exportedNames, metricNames, promtool } from './promtool.js';

const rulesFile = 'deploy/prometheus/warren-alerts.yaml';

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}

async function rules(): Promise<Rule[]> {
  const doc = parse(await readFile(rulesFile, 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

describe('the Prometheus alert rules', () => {
  it('pass `promtool check rules`', async () => {
    const { code, output } = await promtool(['check', 'rules', rulesFile]);
    expect(output).toContain('SUCCESS');
    expect(code, output).toBe(0);
  });

  it("pass their unit tests (`promtool test rules`): each fires on its series and stays quiet on the others'", async () => {
    const { code, output } = await promtool(['test', 'rules', 'test/deploy/warren-alerts.test.yaml']);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });

  it('say what happened, name the route, and link to their section of docs/runbook.md', async () => {
    const runbook = await readFile('docs/runbook.md', 'utf8');
    const unitTests = await readFile('test/deploy/warren-alerts.test.yaml', 'utf8');
    const all = await rules();
    expect(all.length).toBeGreaterThanOrEqual(9);
    for (const rule of all) {
      const { summary, description, runbook_url: url } = rule.annotations;
      expect(summary, rule.alert).toBeTruthy();
      expect(description, rule.alert).toBeTruthy();
      // An alert per Warren or per reload has no route to name; every other one does.
      if (/route/.test(rule.expr) || /warren_(route|dlq|circuit|messages|handler)/.test(rule.expr))
        expect(description, rule.alert).toContain('{{ $labels.route }}');
      expect(url, rule.alert).toBe(`docs/runbook.md#${rule.alert.toLowerCase()}`);
      expect(runbook, rule.alert).toContain(`\n## ${rule.alert}\n`);
      expect(unitTests, `${rule.alert} has a promtool unit test`).toContain(`alertname: ${rule.alert}\n`);
    }
  });
});

describe('the metrics a live Warren exports, against the names the rules and the dashboard read', () => {
  const h = useHarness();

  it('pass `promtool check metrics` and hold every metric name the rules and the dashboard read', async () => {
    const exchange = uniqueName('alerts-x');
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  orders:
    from: { queue: ${uniqueName('alerts-q')}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url('/orders')}" } }
`,
      },
      h.broker,
    );
    const text = await metricsText(h.warren.admin);
    const lint = await promtool(['check', 'metrics'], text);
    expect(lint.code, lint.output).toBe(0);

    const exported = exportedNames(text);
    exported.add('up'); // Prometheus's own, per scrape target
    const used = (await rules()).flatMap((r) =>
      metricNames(r.expr).map((name) => ({ name, where: r.alert })),
    );
    const dashboard = await readFile(dashboardFile, 'utf8');
    for (const expr of dashboardExprs(JSON.parse(dashboard)))
      used.push(...metricNames(expr).map((name) => ({ name, where: `dashboard: ${expr}` })));
    // The route variable's label_values() is Grafana's, not PromQL: its metric is checked alone.
    for (const m of dashboard.matchAll(/label_values\((\w+),/g))
      used.push({ name: m[1]!, where: 'dashboard: route' });
    expect(new Set(used.map((u) => u.name)).size).toBeGreaterThanOrEqual(16);
    expect(used.filter((u) => !exported.has(u.name))).toEqual([]);
  });
});
