import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lines, runWarren, useTempDirs } from '../config/route-dir.js';

describe('warren validate with a schemas directory', () => {
  const temp = useTempDirs();

  async function project() {
    const routes = await temp.routes({
      'r.yaml': lines(
        'routes:',
        '  r:',
        '    from: { queue: r.q }',
        '    schema: event.json',
        '    to: { webhook: { url: "http://127.0.0.1:1/x" } }',
      ),
    });
    const schemas = await temp.make('warren-schemas-');
    return { routes, schemas };
  }

  it('reports a schema file that does not compile at its line, as text and as JSON, from --schemas or WARREN_SCHEMAS', async () => {
    const { routes, schemas } = await project();
    await writeFile(
      join(schemas, 'event.json'),
      lines('{', '  "type": "object",', '  "minProperties": -1', '}'),
    );

    const text = await runWarren(['validate', routes, '--schemas', schemas]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`${join(schemas, 'event.json')}:3:20 not a valid JSON Schema: `);

    const json = await runWarren(['validate', routes, '--format', 'json'], { WARREN_SCHEMAS: schemas });
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout) as { issues: Array<Record<string, unknown>> };
    expect(out.issues).toContainEqual({
      code: 'WARREN_E_CONFIG_INVALID',
      file: join(schemas, 'event.json'),
      line: 3,
      col: 20,
      pointer: '/minProperties',
      message: expect.stringMatching(/^not a valid JSON Schema: data\/minProperties must be >= 0/),
    });
  });

  it('passes once the schema compiles, and plan shows the check', async () => {
    const { routes, schemas } = await project();
    await writeFile(join(schemas, 'event.json'), '{ "type": "object", "required": ["id"] }');

    const valid = await runWarren(['validate', routes, '--schemas', schemas]);
    expect(valid.stderr).toBe('');
    expect(valid.code).toBe(0);
    const plan = await runWarren(['plan', routes, '--schemas', schemas]);
    expect(plan.stdout).toContain('  check   schema event.json\n');
  });
});
