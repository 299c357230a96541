import { describe, expect, it } from 'vitest';
import { refClimb } from '../../src/cli/schema-root.js';
import { missingRefOf, positionedProblem } from '../../src/config/schema-positions.js';
import { SchemaSet } from '../../src/contracts/compile.js';

/** The one problem of `text` compiled as `name` (with `others` beside it), placed. */
function placed(name: string, text: string, others: Array<{ name: string; text: string }> = []) {
  const { problems } = SchemaSet.compile([...others, { name, text }]);
  const problem = problems.find((p) => p.file === name)!;
  expect(problem, JSON.stringify(problems)).toBeDefined();
  return positionedProblem(`dir/${name}`, text, problem);
}

describe('positionedProblem', () => {
  it('places a syntax error by V8 offset, or where the YAML parser finds it when V8 gives none', () => {
    expect(placed('a.json', '{\n  "type": "object"\n  "required": []\n}')).toMatchObject({ line: 3, col: 3 });
    // "Unexpected token" errors carry no position in V8's message.
    expect(placed('b.json', '{\n  "enum": [1,,2]\n}')).toMatchObject({ line: 2, col: 14 });
    expect(placed('c.json', '{\n  "const": tru\n}')).toMatchObject({ line: 2, col: 12 });
  });

  it('places a $ref that resolves nowhere at that $ref, relative to the file that holds it', () => {
    const text =
      '{\n  "properties": {\n    "ok": { "$ref": "b.json" },\n    "x": { "$ref": "c.json#/$defs/y" }\n  }\n}';
    const issue = placed('sub/a.json', text, [{ name: 'sub/b.json', text: '{}' }]);
    expect(missingRefOf({ file: 'sub/a.json', message: issue.message })).toBe('sub/c.json#/$defs/y');
    expect(issue).toMatchObject({ file: 'dir/sub/a.json', line: 4, col: 20 });
  });

  it('gives 1:1 for a document too deep to hand to the YAML parser, and for a file not read', () => {
    const deep = `{"type": "object", "properties": {"a": ${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const issue = positionedProblem('d.json', deep, {
      file: 'd.json',
      pointer: '/properties/a',
      message: 'm',
    });
    expect(issue).toMatchObject({ line: 1, col: 1, pointer: '/properties/a' });
    // Brackets inside strings do not count.
    const quoted = `{\n "enum": ["${'['.repeat(10_000)}"],\n "type": 7\n}`;
    expect(
      positionedProblem('q.json', quoted, { file: 'q.json', pointer: '/type', message: 'm' }),
    ).toMatchObject({
      line: 3,
      col: 10,
    });
    expect(positionedProblem('f.json', undefined, { file: 'f.json', message: 'is a FIFO' })).toMatchObject({
      line: 1,
      col: 1,
    });
  });
});

describe('refClimb', () => {
  it("counts the levels a schema's relative $refs climb above its directory", () => {
    const climb = (...refs: string[]) =>
      refClimb(
        JSON.stringify({ properties: Object.fromEntries(refs.map((r, i) => [`p${i}`, { $ref: r }])) }),
      );
    expect(climb()).toBe(0);
    expect(climb('common/money.json', '#/$defs/x', 'https://example.com/a.json', '/abs.json')).toBe(0);
    expect(climb('../common/money.json#/$defs/amount')).toBe(1);
    expect(climb('../a.json', './x/../../../b.json', 'c/../d.json')).toBe(2);
    expect(climb(`${'../'.repeat(50)}a.json`)).toBe(8);
    expect(refClimb('not json')).toBe(0);
    // Walked without recursion: a document deeper than the stack is no problem.
    expect(
      refClimb(`{"$defs": {"x": ${'{"a":'.repeat(5_000)}{"$ref": "../z.json"}${'}'.repeat(5_000)}}}`),
    ).toBe(1);
  });
});
