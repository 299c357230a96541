import { describe, expect, it } from 'vitest';
import { parseTestFile } from '../../src/route-tests/parse.js';
import { lines } from '../config/route-dir.js';
import { useProject } from './fixture.js';

const routes = new Map([
  ['hook', 'webhook' as const],
  ['copy', 'republish' as const],
  ['split', 'plugin' as const],
]);

function problems(text: string): string[] {
  return parseTestFile('t.yaml', text, routes).issues.map((i) => `${i.line}:${i.col} ${i.message}`);
}

describe('warren test files', () => {
  const project = useProject();

  it('parses a valid file into suites and cases with their lines', () => {
    const parsed = parseTestFile(
      't.yaml',
      lines(
        'route: hook',
        'cases:',
        '  - name: one',
        '    message: { body: { a: 1 }, routingKey: k, attempt: 2 }',
        '    expect: { webhook: [{ url: "http://x/", headers: { X-A: 1 } }] }',
        '  - name: two',
        '    expect: { drop: true }',
      ),
      routes,
    );
    expect(parsed.issues).toEqual([]);
    expect(parsed.suites).toEqual([
      {
        file: 't.yaml',
        line: 1,
        route: 'hook',
        cases: [
          {
            name: 'one',
            line: 3,
            message: { body: { a: 1 }, routingKey: 'k', headers: {}, redelivered: false, attempt: 2 },
            expect: { kind: 'webhook', requests: [{ url: 'http://x/', headers: { 'x-a': '1' } }] },
          },
          {
            name: 'two',
            line: 6,
            message: { headers: {}, routingKey: '', redelivered: false, attempt: 1 },
            expect: { kind: 'drop' },
          },
        ],
      },
    ]);
  });

  it('points at each problem with line and column', () => {
    expect(
      problems(
        lines(
          'route: hooks',
          'cases:',
          '  - name: a',
          '    mesage: {}',
          '    expect: { webhook: [], drop: true }',
          '  - name: a',
          '    message: { attempt: 0, routingKey: 5, body: x }',
          '    expect: {}',
        ),
      ),
    ).toEqual([
      '1:8 no route `hooks` in the routes directory (did you mean `hook`?)',
      '4:5 unknown key `mesage` in a case (did you mean `message`?); known: name, message, expect',
      '5:28 `expect` has both `webhook` and `drop`: give exactly one',
      '6:11 two cases are named "a"',
      '7:25 `attempt` must be an integer of at least 1',
      '7:40 `routingKey` must be a text (quote it)',
      '8:13 `expect` needs one of webhook, publish, drop, filtered, deadLetter, retry, invalid',
    ]);
  });

  it('checks the expectation against the route target and the kinds of values', () => {
    expect(
      problems(
        lines(
          'route: copy',
          'cases:',
          '  - { name: a, expect: { webhook: [] } }',
          '  - { name: b, expect: { retry: true } }',
          '  - { name: c, expect: { publish: [{ exchange: x, body: 1, routingkey: k }] } }',
          '  - { name: c, expect: { deadLetter: "" } }',
          '---',
          'route: hook',
          'cases:',
          '  - { name: a, expect: { publish: [] } }',
          '  - { name: b, expect: { webhook: [{ method: GET }] } }',
          '---',
          'cases: []',
        ),
      ),
    ).toEqual([
      "3:26 the route's target is republish: expect `publish`, not `webhook`",
      '4:33 `retry` is a text the retry reason contains',
      '5:60 unknown key `routingkey` in a published message (did you mean `routingKey`?); known: exchange, routingKey, headers, body',
      '6:13 two cases are named "c"',
      '6:38 `deadLetter` is a text the deadLetter reason contains',
      "10:26 the route's target is a webhook: expect `webhook`, not `publish`",
      '11:46 `method` is one of POST, PUT, PATCH',
      '13:1 `route` is required',
      '13:1 `cases` is empty',
    ]);
  });

  it('reports YAML syntax errors and empty files', () => {
    expect(problems('route: hook\ncases: [\n')[0]).toMatch(/^\d+:\d+ YAML syntax: /);
    expect(problems('')).toEqual(['1:1 empty test file: give `route` and `cases`']);
  });

  it('exits 1 with file:line:col for a malformed file, and still runs the valid ones', async () => {
    const run = await project.run({
      'a-good.yaml': lines(
        'route: split',
        'cases:',
        '  - { name: ok, message: { body: { items: [] } }, expect: { drop: true } }',
      ),
      'b-bad.yaml': lines('route: split', 'cases:', '  - name: no expectation', '    message: {}'),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('✓ split › ok\n1 passed, 0 failed\n');
    expect(run.stderr).toBe(
      `${run.dir}/tests/b-bad.yaml:3:5 a case needs \`expect\` with one of webhook, publish, drop, filtered, deadLetter, retry, invalid (at /cases/0)\n` +
        '1 problem(s) in test files\n',
    );
  });

  it('exits 1 when a plugin of the route cannot load', async () => {
    const run = await project.run(
      { 't.yaml': lines('route: split', 'cases:', '  - { name: a, expect: { drop: true } }') },
      { plugins: { 'split.js': 'export default function (' } },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/t\.yaml:1:1 route split cannot run: plugin split\.js: .*\(at \/route\)/);
  });

  it('exits 2 for a path that does not exist, 1 for a directory without test files', async () => {
    expect((await project.run({}, { paths: ['nowhere'] })).code).toBe(2);
    const empty = await project.run({});
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/no test files/);
  });
});
