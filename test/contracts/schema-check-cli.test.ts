import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWarren, useTempDirs } from '../config/route-dir.js';

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const money = {
  type: 'object',
  required: ['amount', 'currency'],
  properties: { amount: { type: 'integer' }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
};
const order = (extra: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  required: ['id', ...required],
  properties: { id: { type: 'string' }, total: { $ref: 'common/money.json' }, ...extra },
});

// The real CLI, built by `npm test`'s pretest (`npx tsc -p tsconfig.build.json`).
describe('warren schema check (CLI)', () => {
  const temp = useTempDirs();

  /** A directory holding `files` (names may contain sub-directories). */
  async function dir(files: Record<string, string>): Promise<string> {
    const root = await temp.make('warren-schema-check-');
    for (const [name, text] of Object.entries(files)) {
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), text);
    }
    return root;
  }

  it("reports the repository's order.v2.json as breaking order.v1's examples", async () => {
    const run = await runWarren(['schema', 'check', 'schemas/order.v1.json', 'schemas/order.v2.json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "✗ schemas/order.v1.examples.json[0] rejected by schemas/order.v2.json: schema: /order must have required property 'channel'\n",
    );
    expect(run.stdout).toMatch(
      /breaking: schemas\/order\.v2\.json rejects 2 of the 2 examples schemas\/order\.v1\.json accepts\n$/,
    );
  });

  it('exits 0 for a compatible change: an optional property added', async () => {
    const root = await dir({
      'common/money.json': json(money),
      'order.v1.json': json(order()),
      'order.v2.json': json(order({ note: { type: 'string' } })),
      'order.v1.examples.json': json([{ id: 'o-1' }, { id: 'o-2', total: { amount: 5, currency: 'EUR' } }]),
    });
    const run = await runWarren([
      'schema',
      'check',
      join(root, 'order.v1.json'),
      join(root, 'order.v2.json'),
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `compatible: ${join(root, 'order.v2.json')} accepts all 2 examples ${join(root, 'order.v1.json')} accepts\n`,
    );
  });

  it('names each breaking example with its pointer, quotes at most 200 characters of it, and says so in JSON', async () => {
    const long = 'x'.repeat(5_000);
    const root = await dir({
      'common/money.json': json(money),
      'order.v1.json': json(order()),
      'order.v2.json': json(order({}, ['total'])),
      'order.v1.examples.json': json([
        { id: 'o-1', total: { amount: 1, currency: 'EUR' } },
        { id: 'o-2', note: long },
      ]),
      // NEW's own examples count too; one the old schema rejects is a warning, not a break.
      'order.v2.examples.json': json([{ id: 7 }]),
    });
    const [oldPath, newPath] = [join(root, 'order.v1.json'), join(root, 'order.v2.json')];
    const run = await runWarren(['schema', 'check', oldPath, newPath]);
    expect(run.code).toBe(1);
    const out = run.stdout.split('\n');
    expect(out[0]).toBe(
      `✗ ${join(root, 'order.v1.examples.json')}[1] rejected by ${newPath}: schema: (root) must have required property 'total'`,
    );
    expect(out[1]!.startsWith('    {"id":"o-2","note":"xxx')).toBe(true);
    expect(out[1]!.length).toBeLessThanOrEqual(4 + 200);
    expect(run.stdout).not.toContain('x'.repeat(300));
    expect(out[2]).toBe(
      `! ${join(root, 'order.v2.examples.json')}[0] rejected by ${oldPath} too (out of date, not a breaking change): schema: /id must be string`,
    );
    expect(out.at(-2)).toBe(`breaking: ${newPath} rejects 1 of the 2 examples ${oldPath} accepts`);

    const asJson = await runWarren(['schema', 'check', oldPath, newPath, '--format', 'json']);
    expect(asJson.code).toBe(1);
    const report = JSON.parse(asJson.stdout);
    expect(report).toMatchObject({
      compatible: false,
      examples: 3,
      acceptedByOld: 2,
      breaking: { count: 1, listed: [{ file: join(root, 'order.v1.examples.json'), index: 1 }] },
      rejectedByOld: {
        count: 1,
        listed: [{ index: 0, errors: [{ pointer: '/id', message: 'must be string' }] }],
      },
      issues: [],
    });
    expect(report.breaking.listed[0].excerpt.length).toBeLessThanOrEqual(200);
  });

  it('follows a $ref into each version of its directory: a stricter common/money.json breaks the order', async () => {
    // The usual workflow: the deployed version checked out next to the working copy.
    const deployed = await dir({
      'common/money.json': json(money),
      'order.json': json(order()),
      'order.examples.json': json([{ id: 'o-1', total: { amount: 5, currency: 'EUR' } }, { id: 'o-2' }]),
    });
    const working = await dir({
      'common/money.json': json({
        ...money,
        properties: { ...money.properties, amount: { type: 'integer', minimum: 10 } },
      }),
      'order.json': json(order()),
    });
    const run = await runWarren([
      'schema',
      'check',
      join(deployed, 'order.json'),
      join(working, 'order.json'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `✗ ${join(deployed, 'order.examples.json')}[0] rejected by ${join(working, 'order.json')}: schema: /total/amount must be >= 10\n`,
    );
  });

  it('checks a schema of a sub-directory in the directory its ../ $refs climb to', async () => {
    const invoice = (required: string[]) => ({
      type: 'object',
      required,
      properties: { total: { $ref: '../common/money.json' }, due: { type: 'string' } },
    });
    const root = await dir({
      'common/money.json': json(money),
      'billing/invoice.v1.json': json(invoice(['total'])),
      'billing/invoice.v2.json': json(invoice(['total', 'due'])),
      'billing/invoice.v1.examples.json': json([{ total: { amount: 1, currency: 'EUR' } }]),
    });
    const run = await runWarren([
      'schema',
      'check',
      join(root, 'billing/invoice.v1.json'),
      join(root, 'billing/invoice.v2.json'),
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `✗ ${join(root, 'billing/invoice.v1.examples.json')}[0] rejected by ${join(root, 'billing/invoice.v2.json')}: schema: (root) must have required property 'due'\n`,
    );
  });

  it('exits 2 with file:line:col when a schema does not compile or a $ref resolves nowhere', async () => {
    const root = await dir({
      'old.json': json(order()),
      'common/money.json': json(money),
      'syntax.json': '{\n  "type": "object",\n  "required": ["id",, "x"]\n}\n',
      'keyword.json': '{\n  "type": "object",\n  "properties": {\n    "id": { "type": "strin" }\n  }\n}\n',
      'dangling.json':
        '{\n  "type": "object",\n  "properties": {\n    "a": { "$ref": "common/mony.json" }\n  }\n}\n',
      'old.examples.json': json([{ id: 'o-1' }]),
    });
    const check = (name: string) => runWarren(['schema', 'check', join(root, 'old.json'), join(root, name)]);
    const syntax = await check('syntax.json');
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(`${join(root, 'syntax.json')}:3:21 not valid JSON`);
    expect(syntax.stderr).toContain('nothing compared');
    expect(syntax.stdout).toBe('');
    const keyword = await check('keyword.json');
    expect(keyword.code).toBe(2);
    expect(keyword.stderr).toContain(`${join(root, 'keyword.json')}:4:21 not a valid JSON Schema`);
    expect(keyword.stderr).toContain('(at /properties/id/type)');
    const dangling = await check('dangling.json');
    expect(dangling.code).toBe(2);
    expect(dangling.stderr).toContain(
      `${join(root, 'dangling.json')}:4:20 $ref "common/mony.json" resolves to no schema`,
    );

    // Only the checked file's problems are shown, and those of a file its dangling $ref names.
    expect(dangling.stderr).not.toContain('keyword.json');
    const broken = await dir({
      'order.json': json(order()),
      'common/money.json': '{ "type": "object", }\n',
      'order.examples.json': json([{ id: 'o-1' }]),
    });
    const cause = await runWarren([
      'schema',
      'check',
      join(broken, 'order.json'),
      join(broken, 'order.json'),
    ]);
    expect(cause.code).toBe(2);
    expect(cause.stderr).toContain(
      `${join(broken, 'order.json')}:11:15 $ref "common/money.json" resolves to no schema`,
    );
    expect(cause.stderr).toContain(`${join(broken, 'common/money.json')}:1:21 not valid JSON`);
    expect(cause.stderr).toContain('2 error(s); nothing compared');

    const asJson = await runWarren([
      'schema',
      'check',
      join(root, 'old.json'),
      join(root, 'keyword.json'),
      '--format',
      'json',
    ]);
    expect(asJson.code).toBe(2);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      compatible: null,
      issues: [{ file: join(root, 'keyword.json'), line: 4, col: 21, pointer: '/properties/id/type' }],
    });
  });

  it('exits 2 on examples that are not a JSON array, or not a regular file, without waiting on a FIFO', async () => {
    const root = await dir({
      'a.json': json({ type: 'object' }),
      'b.json': json({ type: 'object' }),
      'a.examples.json': json({ id: 'not in an array' }),
    });
    const [a, b] = [join(root, 'a.json'), join(root, 'b.json')];
    const notArray = await runWarren(['schema', 'check', a, b]);
    expect(notArray.code).toBe(2);
    expect(notArray.stderr).toContain(
      `${join(root, 'a.examples.json')}:1:1 an examples file is a JSON array of message bodies`,
    );
    // Nobody ever writes to these pipes: a reader that opened them blocking would hang until the timeout.
    execFileSync('mkfifo', [join(root, 'b.examples.json'), join(root, 'given.fifo')]);
    const fifo = await runWarren(['schema', 'check', b, b]);
    expect(fifo.code).toBe(2);
    expect(fifo.stderr).toContain(
      `${join(root, 'b.examples.json')}:1:1 examples file is a named pipe (FIFO)`,
    );
    const given = await runWarren(['schema', 'check', a, b, '--examples', join(root, 'given.fifo')]);
    expect(given.code).toBe(2);
    expect(given.stderr).toContain(`${join(root, 'given.fifo')}:1:1 examples file is a named pipe (FIFO)`);
  });

  it('uses only the --examples files when given, and exits 2 when there is no example to compare', async () => {
    const root = await dir({
      'a.json': json({ type: 'object', required: ['id'] }),
      'b.json': json({ type: 'object', required: ['id', 'at'] }),
      'a.examples.json': json([{ id: 1, at: 2 }]),
      'more.json': json([{ id: 1 }]),
      'none.json': json([]),
    });
    const [a, b] = [join(root, 'a.json'), join(root, 'b.json')];
    expect((await runWarren(['schema', 'check', a, b])).code).toBe(0);
    const given = await runWarren(['schema', 'check', a, b, '--examples', join(root, 'more.json')]);
    expect(given.code).toBe(1);
    expect(given.stdout).toContain(`✗ ${join(root, 'more.json')}[0] rejected by ${b}`);
    const none = await runWarren(['schema', 'check', a, b, '--examples', join(root, 'none.json')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      'warren: schema check: no example messages: write a JSON array of message bodies to a.examples.json next to the schema, or pass --examples FILE\n',
    );
    await writeFile(join(root, 'c.json'), json({ type: 'object' }));
    const noFile = await runWarren(['schema', 'check', join(root, 'c.json'), join(root, 'c.json')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('no example messages');
  });

  it('exits 2 on a usage error, and plain `warren schema` still prints the route-file schema', async () => {
    const one = await runWarren(['schema', 'check', 'schemas/order.v1.json']);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('takes two schema files, OLD and NEW (got 1 argument)');
    const examples = await runWarren([
      'schema',
      'check',
      'schemas/order.v1.examples.json',
      'schemas/order.v2.json',
    ]);
    expect(examples.code).toBe(2);
    expect(examples.stderr).toContain('is not a schema file');
    const missing = await runWarren(['schema', 'check', 'schemas/nope.json', 'schemas/order.v2.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('schemas/nope.json:1:1 schema file not found');
    const plain = await runWarren(['schema']);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).properties).toHaveProperty('routes');
  });
});
