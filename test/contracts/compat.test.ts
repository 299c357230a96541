import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareSchemas,
  distinctExamples,
  type Example,
  excerptOf,
  maxExcerptChars,
  maxListed,
  parseExamples,
} from '../../src/contracts/compat.js';
import { type BodyCheck, SchemaSet } from '../../src/contracts/compile.js';
import { readSchemaDirectory } from '../../src/contracts/files.js';

/** One schema compiled on its own: its check, or the test fails with the problems. */
function checkOf(schema: unknown): BodyCheck {
  const { set, problems } = SchemaSet.compile([{ name: 's.json', text: JSON.stringify(schema) }]);
  expect(problems).toEqual([]);
  return set.check('s.json')!;
}

const examplesOf = (bodies: unknown[], file = 'e.examples.json'): Example[] =>
  bodies.map((body, index) => ({ file, index, body }));

describe('compareSchemas', () => {
  it("finds the repository's order.v2.json breaking every order.v1 example (they have no channel)", async () => {
    const dir = await readSchemaDirectory('schemas');
    const { set, problems } = SchemaSet.compile(dir.files);
    expect(problems).toEqual([]);
    const file = dir.examples.find((f) => f.name === 'order.v1.examples.json')!;
    const parsed = parseExamples(file);
    if (!('examples' in parsed)) throw new Error(parsed.problem.message);
    const report = compareSchemas(set.check('order.v1.json')!, set.check('order.v2.json')!, parsed.examples);
    expect(report.verdict).toBe('breaking');
    expect(report.acceptedByOld).toBe(parsed.examples.length);
    expect(report.breaking.count).toBe(parsed.examples.length);
    for (const v of report.breaking.listed)
      expect(v.errors).toEqual([{ pointer: '/order', message: "must have required property 'channel'" }]);
    // The other way round nothing breaks, but v2 rejects every v1 example: nothing is shown.
    const back = compareSchemas(set.check('order.v2.json')!, set.check('order.v1.json')!, parsed.examples);
    expect(back.verdict).toBe('unproven');
    expect(back.rejectedByOld.count).toBe(parsed.examples.length);
  });

  it('keeps examples the old schema rejects apart from breaking ones, and says when nothing is shown', () => {
    const old = checkOf({ type: 'object', properties: { n: { type: 'integer' } } });
    const stricter = checkOf({ type: 'object', properties: { n: { type: 'integer', maximum: 9 } } });
    const report = compareSchemas(old, stricter, examplesOf([{ n: 1 }, { n: 'x' }, { n: 10 }]));
    expect(report).toMatchObject({ verdict: 'breaking', examples: 3, acceptedByOld: 2 });
    expect(report.breaking.listed).toEqual([
      {
        file: 'e.examples.json',
        index: 2,
        excerpt: '{"n":10}',
        errors: [{ pointer: '/n', message: 'must be <= 9' }],
      },
    ]);
    expect(report.rejectedByOld.listed.map((v) => v.index)).toEqual([1]);
    expect(compareSchemas(old, stricter, []).verdict).toBe('unproven');
    expect(compareSchemas(old, stricter, examplesOf([{ n: 'x' }])).verdict).toBe('unproven');
    expect(compareSchemas(old, stricter, examplesOf([{ n: 3 }])).verdict).toBe('compatible');
  });

  it('counts every breaking example but lists at most maxListed', () => {
    const bodies = Array.from({ length: maxListed + 5 }, (_, i) => ({ i }));
    const report = compareSchemas(checkOf({}), checkOf({ required: ['missing'] }), examplesOf(bodies));
    expect(report.breaking.count).toBe(maxListed + 5);
    expect(report.breaking.listed).toHaveLength(maxListed);
  });

  // Schemas from a small grammar: enough keywords to make most examples fail one way or another.
  const schemaArb = fc.letrec<{ schema: unknown }>((tie) => ({
    schema: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom({}, true, false, { type: 'string' }, { type: 'integer' }, { type: 'null' }),
      fc.record({ type: fc.constant('number'), minimum: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ enum: fc.array(fc.jsonValue({ maxDepth: 1 }), { minLength: 1, maxLength: 3 }) }),
      fc.record({
        type: fc.constant('object'),
        properties: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('schema'), { maxKeys: 3 }),
        required: fc.subarray(['a', 'b', 'c']),
      }),
      fc.record({
        type: fc.constant('array'),
        items: tie('schema'),
        maxItems: fc.integer({ min: 0, max: 3 }),
      }),
      fc.record({ anyOf: fc.array(tie('schema'), { minLength: 1, maxLength: 2 }) }),
    ),
  })).schema;
  const bodyArb = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  );

  it('never finds a schema breaking against itself', () => {
    fc.assert(
      fc.property(schemaArb, fc.array(bodyArb, { maxLength: 8 }), (schema, bodies) => {
        const check = checkOf(schema);
        const report = compareSchemas(check, check, examplesOf(bodies));
        expect(report.breaking.count).toBe(0);
        expect(report.verdict).not.toBe('breaking');
        expect(report.acceptedByOld + report.rejectedByOld.count).toBe(bodies.length);
      }),
      { seed: 13, numRuns: 100 },
    );
  });

  it('finds a new required property breaking exactly the accepted examples without it', () => {
    let breaking = 0;
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), schemaArb, { maxKeys: 3 }),
        fc.subarray(['a', 'b']),
        fc.array(bodyArb, { maxLength: 8 }),
        (properties, required, bodies) => {
          const old = { type: 'object', properties, required };
          const stricter = { ...old, required: [...required, 'c'] };
          const oldCheck = checkOf(old);
          const newCheck = checkOf(stricter);
          const report = compareSchemas(oldCheck, newCheck, examplesOf(bodies));
          const expected = bodies
            .map((body, index) => ({ body, index }))
            .filter(({ body }) => oldCheck(body) === undefined && !Object.hasOwn(body as object, 'c'))
            .map(({ index }) => index);
          expect(report.breaking.listed.map((v) => v.index)).toEqual(expected);
          for (const v of report.breaking.listed)
            expect(v.errors).toEqual([{ pointer: '', message: "must have required property 'c'" }]);
          breaking += expected.length;
          // Dropping the requirement again never breaks anything.
          expect(compareSchemas(newCheck, oldCheck, examplesOf(bodies)).breaking.count).toBe(0);
        },
      ),
      { seed: 13, numRuns: 80 },
    );
    expect(breaking).toBeGreaterThan(30);
  });
});

describe('parseExamples', () => {
  it('reads a JSON array of bodies, each with its file and index', () => {
    expect(parseExamples({ name: 'x.examples.json', text: '[{"a":1}, 2, null]' })).toEqual({
      examples: examplesOf([{ a: 1 }, 2, null], 'x.examples.json'),
    });
  });

  it('places a file that is not JSON, not an array, or nested too deeply', () => {
    expect(parseExamples({ name: 'x', text: '[{"a":1} {"a":2}]' })).toMatchObject({
      problem: { file: 'x', offset: 9, message: expect.stringMatching(/^not valid JSON: /) },
    });
    expect(parseExamples({ name: 'x', text: '{"order": {}}' })).toMatchObject({
      problem: { pointer: '', message: expect.stringContaining('a JSON array of message bodies') },
    });
    const deep = `[1, ${'['.repeat(200)}${']'.repeat(200)}]`;
    expect(parseExamples({ name: 'x', text: deep })).toMatchObject({
      problem: { pointer: '/1', message: 'example nested deeper than 128 levels' },
    });
  });
});

describe('distinctExamples and excerptOf', () => {
  it('keeps each body once, under the first file that holds it', () => {
    const merged = distinctExamples([
      examplesOf([{ a: 1 }, { a: 2 }], 'old.examples.json'),
      examplesOf([{ a: 2 }, { a: 3 }], 'new.examples.json'),
    ]);
    expect(merged.map((e) => `${e.file}[${e.index}]`)).toEqual([
      'old.examples.json[0]',
      'old.examples.json[1]',
      'new.examples.json[1]',
    ]);
  });

  it('quotes at most maxExcerptChars characters of an example, never half a surrogate pair', () => {
    expect(excerptOf({ a: 1 })).toBe('{"a":1}');
    const long = excerptOf({ text: 'x'.repeat(10_000) });
    expect(long).toHaveLength(maxExcerptChars);
    expect(long.endsWith('…')).toBe(true);
    // '{"t":"' is 6 characters, so the cut at 199 falls in the middle of the 97th emoji.
    const emoji = excerptOf({ t: '😀'.repeat(500) });
    expect(emoji.length).toBeLessThanOrEqual(maxExcerptChars);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF]…$/);
    expect(emoji.endsWith('😀…')).toBe(true);
  });
});
