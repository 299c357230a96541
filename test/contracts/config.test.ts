import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { planTopology } from '../../src/topology/plan.js';
import { lines, repoRoot, useTempDirs } from '../config/route-dir.js';

const webhook = '    to: { webhook: { url: "http://127.0.0.1:1/x" } }';

describe('route key schema:', () => {
  const temp = useTempDirs();

  /** A routes directory and a schemas directory holding the repository's example schemas plus `extra`. */
  async function setup(routeFile: string, extra: Record<string, string> = {}) {
    const routes = await temp.routes({ 'r.yaml': routeFile });
    const schemas = await temp.make('warren-schemas-');
    await mkdir(join(schemas, 'common'));
    for (const name of ['order.v1.json', 'order.v2.json', 'common/money.json']) {
      const { readFile } = await import('node:fs/promises');
      await writeFile(join(schemas, name), await readFile(join(repoRoot, 'schemas', name)));
    }
    for (const [name, text] of Object.entries(extra)) await writeFile(join(schemas, name), text);
    return { routes, schemas };
  }

  async function load(routeFile: string, extra: Record<string, string> = {}) {
    const { routes, schemas } = await setup(routeFile, extra);
    return { result: await loadConfig(routes, {}, './plugins', { schemasDir: schemas }), routes, schemas };
  }

  async function issues(routeFile: string, extra: Record<string, string> = {}): Promise<string[]> {
    const { result, routes, schemas } = await load(routeFile, extra);
    if (result.ok) return [];
    return result.issues.map((i) => formatIssue(i).replace(routes, 'ROUTES').replace(schemas, 'SCHEMAS'));
  }

  it('normalises one schema name and the by/map/otherwise form, otherwise defaulting to deadLetter', async () => {
    const { result } = await load(
      lines(
        'routes:',
        '  one:',
        '    from: { queue: one.q }',
        '    schema: order.v1.json',
        webhook,
        '  by-header:',
        '    from: { queue: h.q }',
        '    schema: { by: "header:x-schema-version", map: { "1": order.v1.json, "2": order.v2.json } }',
        webhook,
        '  by-type:',
        '    from: { queue: t.q }',
        '    schema: { by: type, map: { order.created: order.v1.json }, otherwise: pass }',
        webhook,
      ),
    );
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const [one, byHeader, byType] = result.config.routes;
    const setHash = result.config.schemas!.hash;

    expect(one!.schema).toEqual({ name: 'order.v1.json', setHash });
    expect(byHeader!.schema).toEqual({
      choose: {
        by: { header: 'x-schema-version' },
        map: { '1': 'order.v1.json', '2': 'order.v2.json' },
        otherwise: 'deadLetter',
      },
      setHash,
    });
    expect(byType!.schema).toMatchObject({ choose: { by: { property: 'type' }, otherwise: 'pass' } });
    expect(result.config.schemas!.files.map((f) => f.name)).toEqual([
      'common/money.json',
      'order.v1.json',
      'order.v2.json',
    ]);
  });

  it('refuses an unknown schema name at its line, with "did you mean" and the directory listed', async () => {
    const found = await issues(
      lines('routes:', '  r:', '    from: { queue: r.q }', '    schema: order.v3.json', webhook),
    );

    expect(found).toEqual([
      'ROUTES/r.yaml:4:13 schema `order.v3.json` is not in the schemas directory SCHEMAS (--schemas); did you mean `order.v1.json`? — it holds: common/money.json, order.v1.json, order.v2.json (at /routes/r/schema)',
    ]);
  });

  it('refuses a bad map: an unknown name in it, a `by` that is neither type nor a header, an empty map', async () => {
    const found = await issues(
      lines(
        'routes:',
        '  a:',
        '    from: { queue: a.q }',
        '    schema: { by: "header:v", map: { "1": order.v1.json, "2": ordr.v2.json } }',
        webhook,
        '  b:',
        '    from: { queue: b.q }',
        '    schema: { by: colour, map: {}, otherwise: drop }',
        webhook,
      ),
    );

    expect(found).toHaveLength(4);
    expect(found[0]).toMatch(
      /^ROUTES\/r\.yaml:4:63 schema `ordr\.v2\.json` .*did you mean `order\.v2\.json`/,
    );
    expect(found[1]).toMatch(
      /^ROUTES\/r\.yaml:8:19 must be `type` \(the AMQP type property\) or `header:<name>`/,
    );
    expect(found[2]).toMatch(/^ROUTES\/r\.yaml:8:32 must NOT have fewer than 1 properties/);
    expect(found[3]).toMatch(/^ROUTES\/r\.yaml:8:47 must be one of: deadLetter, pass/);
  });

  it('reports a schema file that does not compile inside that file, and refuses the route naming it', async () => {
    const found = await issues(
      lines('routes:', '  r:', '    from: { queue: r.q }', '    schema: bad.json', webhook),
      {
        'bad.json': lines(
          '{',
          '  "type": "object",',
          '  "properties": {',
          '    "x": { "type": "strin" }',
          '  }',
          '}',
        ),
        'syntax.json': lines('{', '  "type": "object",', '  "required": ["a",],', '}'),
        'ref.json': '{ "$ref": "nowhere.json" }',
      },
    );

    expect(found).toEqual([
      expect.stringMatching(/^ROUTES\/r\.yaml:4:13 schema `bad\.json` cannot be used: it does not compile/),
      expect.stringMatching(
        /^SCHEMAS\/bad\.json:4:20 not a valid JSON Schema: .* \(at \/properties\/x\/type\)$/,
      ),
      expect.stringMatching(/^SCHEMAS\/ref\.json:1:11 \$ref "nowhere\.json" resolves to no schema/),
      expect.stringMatching(/^SCHEMAS\/syntax\.json:3:20 not valid JSON: /),
    ]);
  });

  it("checks a target's schema name, and keeps it as the route's output contract", async () => {
    const file = (name: string) =>
      lines(
        'routes:',
        '  hook:',
        '    from: { queue: h.q }',
        `    to: { webhook: { url: "http://127.0.0.1:1/x", schema: ${name} } }`,
        '  copy:',
        '    from: { queue: c.q }',
        `    to: { republish: { exchange: out, schema: ${name} } }`,
      );
    expect(await issues(file('ordr.v2.json'))).toEqual([
      expect.stringMatching(/^ROUTES\/r\.yaml:4:59 schema `ordr\.v2\.json` .*did you mean `order\.v2\.json`/),
      expect.stringMatching(/^ROUTES\/r\.yaml:7:47 schema `ordr\.v2\.json` /),
    ]);
    const { result } = await load(file('order.v2.json'));
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const setHash = result.config.schemas!.hash;

    expect(result.config.routes.map((r) => [r.schema, r.outputSchema])).toEqual([
      [undefined, { name: 'order.v2.json', setHash }],
      [undefined, { name: 'order.v2.json', setHash }],
    ]);
    expect(result.config.routes[0]!.target).not.toHaveProperty('schema');
  });

  it('does not read the schemas directory into a configuration without schema:', async () => {
    const { result } = await load(lines('routes:', '  r:', '    from: { queue: r.q }', webhook), {
      'bad.json': '{ "type": "strin" }',
    });

    expect(result.ok && result.config.schemas).toBe(undefined);
  });

  it('changes the fingerprint of exactly the routes declaring schema: when a schema file changes', async () => {
    const file = lines(
      'routes:',
      '  checked:',
      '    from: { queue: c.q }',
      '    schema: order.v1.json',
      webhook,
      '  plain:',
      '    from: { queue: p.q }',
      webhook,
    );
    const { routes, schemas } = await setup(file);
    const before = await loadConfig(routes, {}, './plugins', { schemasDir: schemas });
    await writeFile(join(schemas, 'common/money.json'), '{ "type": "object" }');
    const after = await loadConfig(routes, {}, './plugins', { schemasDir: schemas });
    if (!before.ok || !after.ok) throw new Error('invalid');
    const [c1, p1] = planTopology(before.config).routes;
    const [c2, p2] = planTopology(after.config).routes;

    expect(c2!.fingerprint).not.toBe(c1!.fingerprint);
    expect(c2!.sourceFingerprint).toBe(c1!.sourceFingerprint);
    expect(p2!.fingerprint).toBe(p1!.fingerprint);
  });
});
