import { describe, expect, it } from 'vitest';
import { SchemaSet } from '../../src/contracts/compile.js';

const json = (value: unknown) => JSON.stringify(value);

/** Schemas an operator may write by mistake, each checked against what a sender can put in a body. */
describe('hostile or mistaken schema files', () => {
  it('refuses an $async schema: its check returns a promise, which is not a verdict', () => {
    const { set, problems } = SchemaSet.compile([
      { name: 'async.json', text: json({ $async: true, type: 'object', required: ['id'] }) },
      { name: 'uses-async.json', text: json({ type: 'object', properties: { a: { $ref: 'async.json' } } }) },
    ]);
    expect(set.names).toEqual([]);
    const byFile = Object.fromEntries(problems.map((p) => [p.file, p]));
    expect(byFile['async.json']).toMatchObject({ pointer: '/$async' });
    expect(byFile['async.json']!.message).toContain('$async');
    expect(byFile['uses-async.json']).toBeDefined();
  });

  it('refuses a $ref loop that never reaches into the message, instead of failing every body', () => {
    const { set, problems } = SchemaSet.compile([
      { name: 'a.json', text: json({ $ref: 'b.json' }) },
      { name: 'b.json', text: json({ allOf: [{ $ref: 'a.json' }] }) },
      { name: 'self.json', text: json({ $defs: { x: { $ref: '#/$defs/x' } }, $ref: '#/$defs/x' }) },
      { name: 'dynamic.json', text: json({ $dynamicRef: '#meta' }) },
      // Recursion that descends into the message is a tree, not a loop: it stays.
      {
        name: 'tree.json',
        text: json({ type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } } }),
      },
    ]);
    expect(set.names).toEqual(['tree.json']);
    for (const file of ['a.json', 'b.json', 'self.json', 'dynamic.json']) {
      const problem = problems.find((p) => p.file === file);
      expect(problem?.message, file).toContain('loop');
    }
    expect(set.check('tree.json')!({ children: [{ children: [] }] })).toBeUndefined();
  });

  it('refuses a format it does not know rather than ignoring it, and writes nothing to the console', () => {
    const warned: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warned.push(args);
    try {
      const { set, problems } = SchemaSet.compile([
        {
          name: 'typo.json',
          text: json({ type: 'object', properties: { at: { type: 'string', format: 'datetime' } } }),
        },
        { name: 'ok.json', text: json({ type: 'string', format: 'date-time' }) },
      ]);
      expect(set.names).toEqual(['ok.json']);
      expect(problems).toEqual([
        expect.objectContaining({ file: 'typo.json', pointer: '/properties/at/format' }),
      ]);
      expect(problems[0]!.message).toContain('unknown format "datetime"');
    } finally {
      console.warn = warn;
    }
    expect(warned).toEqual([]);
  });

  it('does not take a number past the range of a double (1e400, parsed as Infinity) for an integer or a number', () => {
    const { set } = SchemaSet.compile([
      {
        name: 'order.json',
        text: json({
          type: 'object',
          properties: { qty: { type: 'integer', minimum: 1 }, price: { type: 'number' } },
        }),
      },
    ]);
    const check = set.check('order.json')!;
    expect(check(JSON.parse('{"qty": 1e400}'))).toEqual([{ pointer: '/qty', message: 'must be integer' }]);
    expect(check(JSON.parse('{"price": -1e400}'))).toEqual([
      { pointer: '/price', message: 'must be number' },
    ]);
    expect(check(JSON.parse('{"qty": 5, "price": 1.5e300}'))).toBeUndefined();
  });

  it("reads only the body's own properties: a key named like an Object member is absent until sent", () => {
    const { set } = SchemaSet.compile([
      { name: 'required.json', text: json({ type: 'object', required: ['constructor', 'toString'] }) },
      { name: 'typed.json', text: json({ type: 'object', properties: { constructor: { type: 'string' } } }) },
      { name: 'dependent.json', text: json({ type: 'object', dependentRequired: { a: ['valueOf'] } }) },
    ]);
    expect(set.check('required.json')!({})).toEqual([
      { pointer: '', message: "must have required property 'constructor'" },
    ]);
    expect(set.check('required.json')!({ constructor: 1, toString: 2 })).toBeUndefined();
    expect(set.check('typed.json')!({})).toBeUndefined();
    expect(set.check('typed.json')!({ constructor: 7 })).toEqual([
      { pointer: '/constructor', message: 'must be string' },
    ]);
    expect(set.check('dependent.json')!({ a: 1 })).toEqual([
      { pointer: '', message: 'must have property valueOf when property a is present' },
    ]);
  });
});
