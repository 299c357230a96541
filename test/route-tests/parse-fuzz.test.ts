import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTestFile } from '../../src/route-tests/parse.js';
import { repoRoot } from '../config/route-dir.js';
import { editedTexts, renderYaml, yamlFiles, yamlTokens, yamlTrees } from '../helpers/yaml-fuzz.js';

/**
 * Property-based fuzzing of the test-file reader (loader, schema, route checks, normalisation):
 * whatever text a test file holds, it returns suites and positioned issues — nothing escapes as a
 * throw — and every issue points into the file at line ≥ 1, column ≥ 1.
 */

const file = '/fuzz/routes.d.test/fuzz.yaml';
const routes = new Map([
  ['billing-orders', 'webhook' as const],
  ['audit-copy', 'republish' as const],
  ['order-lines', 'plugin' as const],
]);
const examplesDir = join(repoRoot, 'routes.d.test');
const examples = readdirSync(examplesDir).map((name) => readFileSync(join(examplesDir, name), 'utf8'));

/** Keys of the test-file schema, so generated maps reach deep into it rather than stop at the top. */
const schemaKeys = [
  'route',
  'cases',
  'name',
  'message',
  'expect',
  'body',
  'contentType',
  'headers',
  'routingKey',
  'exchange',
  'messageId',
  'redelivered',
  'attempt',
  'webhook',
  'publish',
  'drop',
  'filtered',
  'deadLetter',
  'retry',
  'url',
  'method',
  ...routes.keys(),
  '__proto__',
  'constructor',
  '<<',
];

const oddScalars = [
  '~',
  'null',
  '.nan',
  '-.inf',
  '.inf',
  '0x1F',
  '1e400',
  '-0',
  '0',
  '1.5',
  '-1',
  'true',
  'false',
  'yes',
  '""',
  "''",
  '"\\u0000"',
  '"\\ud800"',
  'post',
  'PATCH',
  'GET',
  '!!binary aGVsbG8=',
  '!!str 12',
  '!custom x',
  '!!map {}',
  '!!seq []',
  '!!int x',
  '!!timestamp 2001-12-14',
  '&a x',
  '*a',
  '*missing',
  '&b [1, 2]',
  '*b',
  '? complex',
  '- dash',
  ': colon',
  '|-',
  '>',
  '%YAML 1.2',
  '@reserved',
  '😀',
  'a\u0000b',
];

const scalar = fc.oneof(
  fc.constantFrom(...oddScalars),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.integer().map(String),
  fc.double().map(String),
);

const key = fc.oneof(fc.constantFrom(...schemaKeys), fc.string({ maxLength: 8 }), scalar);

const tree = yamlTrees(scalar, key);

/** A generated document, half of the time under a real `route:` so the route checks run too. */
const document = fc
  .tuple(tree, fc.constantFrom('', ...[...routes.keys()].map((r) => `route: ${r}\n`)))
  .map(([t, route]) => `${route}${renderYaml(t).replace(/^\n/, '')}`);

/** Edits of a shipped test file: delete, insert and duplicate at random places. */
const mutated = editedTexts(
  examples,
  fc.oneof(
    fc.constantFrom(...yamlTokens),
    scalar,
    key.map((k) => `\n    ${k}: `),
  ),
);

const deep = fc
  .tuple(fc.integer({ min: 1, max: 200 }), fc.constantFrom('[', '{a: ', '- '))
  .map(([n, open]) => {
    if (open === '[') return `route: hook\ncases: ${'['.repeat(n)}${']'.repeat(n)}`;
    if (open === '{a: ') return `cases: ${'{a: '.repeat(n)}1${'}'.repeat(n)}`;
    return Array.from({ length: n }, (_, i) => `${'  '.repeat(i)}- `).join('\n');
  });

const testFile = yamlFiles(document, mutated, deep);

describe('fuzzing the test-file reader', () => {
  it('never throws, and every issue has the file, a line ≥ 1, a column ≥ 1 and a pointer (1,000 files)', () => {
    let invalid = 0;
    let valid = 0;
    fc.assert(
      fc.property(testFile, (text) => {
        const { suites, issues } = parseTestFile(file, text, routes);
        if (issues.length > 0) invalid++;
        valid += suites.length;
        for (const issue of issues) {
          expect(issue.file).toBe(file);
          expect(Number.isInteger(issue.line) && issue.line >= 1, JSON.stringify(issue)).toBe(true);
          expect(Number.isInteger(issue.col) && issue.col >= 1, JSON.stringify(issue)).toBe(true);
          expect(typeof issue.pointer).toBe('string');
          expect(issue.message.length, JSON.stringify(issue)).toBeGreaterThan(0);
        }
        for (const suite of suites) {
          expect(routes.has(suite.route)).toBe(true);
          expect(suite.cases.length).toBeGreaterThan(0);
        }
      }),
      { seed: 42, numRuns: 1_000 },
    );
    // The generators reach the error paths (most files are invalid) and some valid suites too.
    expect(invalid).toBeGreaterThan(500);
    expect(valid).toBeGreaterThan(0);
  });
});
