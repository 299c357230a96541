import { describe, expect, it } from 'vitest';
import { lines } from '../config/route-dir.js';
import { useProject } from './fixture.js';

const routes = lines(
  'routes:',
  '  orders:',
  '    from: { queue: t.orders }',
  '    schema: { by: type, map: { order.v1: order.json } }',
  '    to: { webhook: { url: http://127.0.0.1:9/hooks/orders } }',
  '  reshaped:',
  '    from: { queue: t.reshaped }',
  '    transform: reshape.js',
  '    to: { webhook: { url: http://127.0.0.1:9/hooks/reshaped, schema: order.json } }',
);

/** Keeps `id` and `lines` unless the message asks it to forget the lines. */
const reshape =
  'export default (msg) => ({ body: msg.body.forget ? { id: msg.body.id } : { id: msg.body.id, lines: msg.body.lines } })';

const orderSchema = JSON.stringify({
  type: 'object',
  required: ['id', 'lines'],
  properties: {
    id: { type: 'string' },
    lines: { type: 'array', minItems: 1, items: { type: 'object', required: ['sku'] } },
  },
});

describe('warren test: expect invalid', () => {
  const project = useProject();

  /** `warren test` on one test file against the routes above, with order.json and reshape.js. */
  const run = (testFile: string, format: 'text' | 'json' = 'text') =>
    project.run(
      { 'orders.yaml': testFile },
      { format, routes, schemas: { 'order.json': orderSchema }, plugins: { 'reshape.js': reshape } },
    );

  it('passes cases whose body the schema refuses as expected, by pointer, message, schema or reason', async () => {
    const result = await run(
      lines(
        'route: orders',
        'cases:',
        '  - name: a valid order is sent',
        '    message: { type: order.v1, body: { id: o-1, lines: [{ sku: A }] } }',
        '    expect: { webhook: [{ body: { id: o-1, lines: [{ sku: A }] } }] }',
        '  - name: a line without sku',
        '    message: { type: order.v1, body: { id: o-1, lines: [{ qty: 1 }] } }',
        '    expect: { invalid: { pointer: /lines/0, message: sku, schema: order.json } }',
        '  - name: no id, at the root',
        '    message: { type: order.v1, body: { lines: [{ sku: A }] } }',
        '    expect: { invalid: { pointer: (root), message: "required property \'id\'" } }',
        '  - name: not JSON',
        '    message: { type: order.v1, body: "order o-1" }',
        '    expect: { invalid: body is not JSON }',
        '  - name: an unknown type',
        '    message: { type: order.v9, body: {} }',
        '    expect: { invalid: true }',
      ),
    );

    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/5 passed, 0 failed\n$/);
    expect(result.code).toBe(0);
  });

  it('fails a case whose body is refused at another place, and one expecting invalid that is sent', async () => {
    const result = await run(
      lines(
        'route: orders',
        'cases:',
        '  - name: wrong pointer',
        '    message: { type: order.v1, body: { id: o-1, lines: [{ qty: 1 }] } }',
        '    expect: { invalid: { pointer: /id } }',
        '  - name: actually valid',
        '    message: { type: order.v1, body: { id: o-1, lines: [{ sku: A }] } }',
        '    expect: { invalid: true }',
      ),
      'json',
    );

    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { results: Array<{ name: string; difference?: unknown }> };
    expect(report.results.map((r) => [r.name, r.difference])).toEqual([
      [
        'wrong pointer',
        {
          path: 'invalid.pointer',
          message: `expected an error at "/id", got "schema: /lines/0 must have required property 'sku'"`,
        },
      ],
      ['actually valid', { path: 'invalid', message: 'expected invalid, got 1 webhook request (ack)' }],
    ]);
  });

  it("checks what a transform hands the target against the target's schema", async () => {
    const result = await run(
      lines(
        'route: reshaped',
        'cases:',
        '  - name: reshaped and conforming',
        '    message: { body: { id: o-1, lines: [{ sku: A }], extra: 1 } }',
        '    expect: { webhook: [{ body: { id: o-1, lines: [{ sku: A }] } }] }',
        '  - name: the transform drops the lines',
        '    message: { body: { id: o-1, lines: [{ sku: A }], forget: true } }',
        `    expect: { invalid: { pointer: (root), message: "required property 'lines'", schema: order.json } }`,
      ),
    );

    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/2 passed, 0 failed\n$/);
  });

  it('refuses an `invalid` expectation of the wrong shape at its line', async () => {
    const result = await run(
      lines(
        'route: orders',
        'cases:',
        '  - name: empty',
        '    message: { type: order.v1, body: {} }',
        '    expect: { invalid: { } }',
        '  - name: unknown part',
        '    message: { type: order.v1, body: {} }',
        '    expect: { invalid: { path: /id } }',
      ),
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/orders\.yaml:5:\d+ `invalid` needs pointer, message or schema/);
    expect(result.stderr).toMatch(/orders\.yaml:8:\d+ unknown key `path` in `invalid`/);
  });
});
