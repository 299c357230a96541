import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardExprs, dashboardFile, promtool, substituteVariables } from './promtool.js';

interface Panel {
  type: string;
  title: string;
  repeat?: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
}

interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: {
    list: Array<{ name: string; type: string; query: unknown; includeAll?: boolean; multi?: boolean }>;
  };
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
const chosenDatasource = '${datasource}';

const dashboard = async (): Promise<Dashboard> =>
  JSON.parse(await readFile(dashboardFile, 'utf8')) as Dashboard;

describe('the Grafana dashboard', () => {
  it('is a Grafana 10 dashboard with a data source variable and a route variable its rows repeat on', async () => {
    const d = await dashboard();
    expect(d.schemaVersion).toBeGreaterThanOrEqual(38);
    expect(d.uid).toBe('warren');
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.get('route')).toMatchObject({
      type: 'query',
      query: { query: 'label_values(warren_messages_total, route)' },
      includeAll: true,
      multi: true,
    });
    const rows = d.panels.filter((p) => p.type === 'row').map((p) => [p.title, p.repeat]);
    expect(rows).toEqual([
      ['Overview', undefined],
      ['Route $route', 'route'],
      ['Dead-letter queues', undefined],
      ['Circuits', undefined],
      ['Reloads', undefined],
      ['Latency', undefined],
    ]);
    expect(d.panels.some((p) => p.type === 'heatmap')).toBe(true);
    // Every query goes to the chosen data source, so one import works against any Prometheus.
    for (const p of d.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(chosenDatasource);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(chosenDatasource);
    }
  });

  it('holds only valid PromQL, once Grafana has put in its variables', async () => {
    const exprs = dashboardExprs(await dashboard());
    expect(exprs.length).toBeGreaterThan(20);
    // promtool parses a recording rule's expression: one rule per query, each named after its index.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((expr, i) => ({
            record: `dashboard:query_${i}`,
            expr: substituteVariables(expr),
          })),
        },
      ],
    };
    const dir = await mkdtemp(join(tmpdir(), 'warren-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yaml');
      await writeFile(file, JSON.stringify(rules, null, 2)); // JSON is YAML
      const { code, output } = await promtool(['check', 'rules', file]);
      expect(code, output).toBe(0);
      expect(output).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('substitutes every Grafana variable it uses', async () => {
    for (const expr of dashboardExprs(await dashboard()))
      expect(substituteVariables(expr), expr).not.toContain('$');
  });
});
