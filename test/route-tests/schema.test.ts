import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultMaxFileBytes } from '../../src/config/read.js';
import { parseTestFile, readTestFile } from '../../src/route-tests/parse.js';
import { lines, useTempDirs } from '../config/route-dir.js';

const routes = new Map([
  ['hook', 'webhook' as const],
  ['copy', 'republish' as const],
]);

/** `line:col message (at pointer)` of each issue. */
function problems(text: string): string[] {
  return parseTestFile('t.yaml', text, routes).issues.map(
    (i) => `${i.line}:${i.col} ${i.message} (at ${i.pointer})`,
  );
}

describe('the test-file schema', () => {
  it('refuses an unknown key at every level, at the key, naming the keys it knows', () => {
    expect(
      problems(
        lines(
          'route: hook',
          'case: []',
          'cases:',
          '  - name: a',
          '    message: { header: {} }',
          '    expect: { webhook: [{ uri: x }] }',
          '  - name: b',
          '    expect: { dropped: true }',
          '---',
          'route: copy',
          'cases:',
          '  - { name: c, expect: { publish: [{ key: k }] } }',
        ),
      ),
    ).toEqual([
      '2:1 unknown key `case` in a test file (did you mean `cases`?); known: route, cases (at /case)',
      '5:16 unknown key `header` in `message` (did you mean `headers`?); known: body, contentType, headers, routingKey, exchange, messageId, type, redelivered, attempt (at /cases/0/message/header)',
      '6:27 unknown key `uri` in a webhook request (did you mean `url`?); known: url, method, headers, body (at /cases/0/expect/webhook/0/uri)',
      '8:15 unknown key `dropped` in `expect`; known: webhook, publish, drop, filtered, deadLetter, retry, invalid (at /cases/1/expect/dropped)',
      '12:38 unknown key `key` in a published message; known: exchange, routingKey, headers, body (at /cases/0/expect/publish/0/key)',
    ]);
  });

  it('refuses a value of the wrong type at the value, with the key in the message and the pointer', () => {
    expect(
      problems(
        lines(
          'route: [hook]',
          'cases:',
          '  - name: 1',
          '    message: { headers: [], redelivered: "no", contentType: 2, attempt: 1.5 }',
          '    expect: { webhook: [{ url: 3, method: get, headers: { a: { b: 1 } } }] }',
          '  - name: b',
          '    expect: { drop: false }',
          '  - name: c',
          '    expect: { filtered: "" }',
          '  - name: d',
          '    expect: { retry: 3 }',
          '  - [name]',
        ),
      ),
    ).toEqual([
      '1:8 `route` must be a text (quote it) (at /route)',
      '3:11 `name` must be a text (quote it) (at /cases/0/name)',
      '4:25 `headers` must be a map (at /cases/0/message/headers)',
      '4:42 `redelivered` must be true or false (at /cases/0/message/redelivered)',
      '4:61 `contentType` must be a text (quote it) (at /cases/0/message/contentType)',
      '4:73 `attempt` must be an integer of at least 1 (at /cases/0/message/attempt)',
      '5:32 `url` must be a text (quote it) (at /cases/0/expect/webhook/0/url)',
      '5:43 `method` is one of POST, PUT, PATCH (at /cases/0/expect/webhook/0/method)',
      '5:62 header `a` must be a text, a number or null (at /cases/0/expect/webhook/0/headers/a)',
      '7:21 `drop` is true or a text the drop reason contains (at /cases/1/expect/drop)',
      '9:25 `filtered` is true or a text the filter reason contains (at /cases/2/expect/filtered)',
      '11:22 `retry` is a text the retry reason contains (at /cases/3/expect/retry)',
      '12:5 a case must be a map (at /cases/4)',
    ]);
  });

  it('says what is missing, at the map that misses it', () => {
    expect(problems(lines('route: hook', 'cases:', '  - message: {}'))).toEqual([
      '3:5 `name` is required (at /cases/0)',
      '3:5 a case needs `expect` with one of webhook, publish, drop, filtered, deadLetter, retry, invalid (at /cases/0)',
    ]);
    expect(problems(lines('route: hook'))).toEqual(['1:1 a test file needs `cases`: a list of cases (at )']);
    expect(problems(lines('- route: hook'))).toEqual(['1:1 a test file must be a map (at )']);
  });

  it('reads a method in any case, and header values as text under lower-case names', () => {
    const parsed = parseTestFile(
      't.yaml',
      lines(
        'route: hook',
        'cases:',
        '  - name: a',
        '    expect: { webhook: [{ method: patch, headers: { X-Count: 2, X-On: true, X-Gone: null } }] }',
      ),
      routes,
    );
    expect(parsed.issues).toEqual([]);
    expect(parsed.suites[0]?.cases[0]?.expect).toEqual({
      kind: 'webhook',
      requests: [{ method: 'PATCH', headers: { 'x-count': '2', 'x-on': 'true', 'x-gone': null } }],
    });
  });
});

describe('test files are read as hardened as route files', () => {
  const temp = useTempDirs();

  it('refuses an alias bomb with one issue, quickly, instead of expanding it', () => {
    const bomb = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 9; i++)
      bomb.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const text = lines(
      'route: hook',
      'cases:',
      '  - name: boom',
      '    message:',
      '      body:',
      ...bomb.map((row) => `        ${row}`),
      '    expect: { drop: true }',
    );
    const started = performance.now();
    const parsed = parseTestFile('t.yaml', text, routes);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(parsed.suites).toEqual([]);
    expect(parsed.issues.map((i) => `${i.file}:${i.line} ${i.message}`)).toEqual([
      't.yaml:11 YAML: aliases expand to more than 1,000,000 nodes (an alias bomb?)',
    ]);
  });

  it('expands an anchor used more than a hundred times, within the cap', () => {
    const body = `[${Array(150).fill('*x').join(', ')}]`;
    const parsed = parseTestFile(
      't.yaml',
      lines(
        'route: hook',
        'cases:',
        '  - name: many',
        `    message: { headers: { h: &x v }, body: ${body} }`,
        '    expect: { drop: true }',
      ),
      routes,
    );
    expect(parsed.issues).toEqual([]);
    expect(parsed.suites[0]?.cases[0]?.message.body).toHaveLength(150);
  });

  it('refuses an oversized file, a FIFO and a missing file at 1:1, without reading or blocking', async () => {
    const dir = await temp.make('warren-test-files-');
    const big = join(dir, 'big.yaml');
    await writeFile(big, `route: hook\n#${'x'.repeat(defaultMaxFileBytes)}\n`);
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const read = async (file: string) =>
      (await readTestFile(file, routes)).issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    expect(await read(big)).toEqual([
      expect.stringMatching(/^1:1 test file is [\d,]+ bytes, over the limit of 4,194,304 bytes$/),
    ]);
    expect(await read(fifo)).toEqual(['1:1 test file is a named pipe (FIFO), not a regular file']);
    expect(await read(join(dir, 'none.yaml'))).toEqual([
      '1:1 test file not found (or a symbolic link to a missing file)',
    ]);
  });
});
