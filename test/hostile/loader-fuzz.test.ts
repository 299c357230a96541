import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRouteFile } from '../../src/config/documents.js';
import { validateLoaded } from '../../src/config/load.js';
import { repoRoot } from '../config/route-dir.js';
import { editedTexts, renderYaml, yamlFiles, yamlTokens, yamlTrees } from '../helpers/yaml-fuzz.js';

/**
 * Property-based fuzzing of the loader (parse, alias and key checks) and the validator (schema,
 * normalisation, cross-document checks): whatever text a route file holds, they return issues —
 * none escapes as a throw — and every issue points into a file at line ≥ 1, column ≥ 1.
 */

const file = '/fuzz/routes.d/fuzz.yaml';
const pluginsDir = join(repoRoot, 'plugins');
const examples = ['10-orders.yaml', '20-invoices.yaml', '30-plugins.yaml', '40-policies.yaml'].map((name) =>
  readFileSync(join(repoRoot, 'routes.d', name), 'utf8'),
);

/** Keys of the real schema, so generated maps reach deep into it rather than stop at the top. */
const schemaKeys = [
  'exchanges',
  'queues',
  'routes',
  'type',
  'durable',
  'autoDelete',
  'internal',
  'alternateExchange',
  'arguments',
  'bind',
  'exchange',
  'key',
  'headers',
  'from',
  'queue',
  'prefetch',
  'concurrency',
  'when',
  'routingKey',
  'exists',
  'rateLimit',
  'rate',
  'per',
  'burst',
  'transform',
  'file',
  'timeout',
  'memoryLimitMb',
  'deliveryLimit',
  'to',
  'webhook',
  'republish',
  'plugin',
  'url',
  'method',
  'sign',
  'secrets',
  'retryOn',
  'deadLetterOn',
  'circuit',
  'retry',
  'attempts',
  'backoff',
  'deadLetter',
  'orders',
  'billing',
  'x-max-length',
  '__proto__',
  'constructor',
  '<<',
];

const oddScalars = [
  '~',
  'null',
  'Null',
  '.nan',
  '-.inf',
  '.inf',
  '0x1F',
  '0o17',
  '0b101',
  '1e400',
  '-1e400',
  '-0',
  '99999999999999999999999999999',
  '1.7976931348623157e309',
  '65536',
  '-1',
  '0',
  '1_000',
  'true',
  'yes',
  'off',
  '""',
  "''",
  '"\\u0000"',
  '"\\ud800"',
  '"\\x85"',
  '"line\\nbreak\\r\\n"',
  '!!binary aGVsbG8=',
  '!!str 12',
  '!custom x',
  '!!map {}',
  '!!seq []',
  '!!int x',
  '!!float y',
  '!!timestamp 2001-12-14',
  '!<tag:yaml.org,2002:str> s',
  '&a x',
  '*a',
  '*missing',
  '&b [1, 2]',
  '*b',
  'http://',
  'https://h:99999/',
  'http://[::1',
  '10s',
  '0ms',
  '1000h',
  '5xx',
  '600',
  'ß',
  '\u202eevil',
  '😀',
  'a\u0000b',
  '"\\t"',
  '? complex',
  '- dash',
  ': colon',
  '|-',
  '>',
  '%YAML 1.2',
  '@reserved',
  '`tick',
  '#not a comment',
];

/** Interpolation references as written in route files (`$` + `{…}`), resolved or not. */
const references = [
  'env:HOME',
  'env:WARREN_FUZZ_UNSET',
  'env:WARREN_FUZZ_UNSET:-d',
  'file:/dev/zero',
  'file:/nonexistent/secret',
  'file:',
].map((ref) => `\${${ref}}`);

const scalar = fc.oneof(
  fc.constantFrom(...oddScalars, ...references, '$$' + '{literal}', '$' + '{env:'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.bigInt().map(String),
);

const key = fc.oneof(fc.constantFrom(...schemaKeys), fc.string({ maxLength: 8 }), scalar);

const tree = yamlTrees(scalar, key);

const document = tree.map((t) => renderYaml(t).replace(/^\n/, ''));

/** Edits of a real route file: delete, insert and duplicate at random places. */
const mutated = editedTexts(
  examples,
  fc.oneof(
    fc.constantFrom(...yamlTokens),
    scalar,
    key.map((k) => `\n  ${k}: `),
  ),
);

const deep = fc
  .tuple(fc.integer({ min: 1, max: 300 }), fc.constantFrom('[', '{a: ', '- ', 'k:\n'))
  .map(([n, open]) => {
    if (open === '[') return `routes: ${'['.repeat(n)}${']'.repeat(n)}`;
    if (open === '{a: ') return `routes: ${'{a: '.repeat(n)}1${'}'.repeat(n)}`;
    if (open === '- ') return Array.from({ length: n }, (_, i) => `${'  '.repeat(i)}- `).join('\n');
    return Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  });

const routeFile = yamlFiles(document, mutated, deep);

describe('fuzzing the loader and the validator', () => {
  it('never throws, and every issue has a file, a line ≥ 1 and a column ≥ 1 (1,000 files)', () => {
    let invalid = 0;
    fc.assert(
      fc.property(routeFile, (text) => {
        const parsed = parseRouteFile(file, text);
        const result = validateLoaded(
          { docs: parsed.docs, issues: parsed.issues, version: 'fuzz' },
          { HOME: '/home/fuzz' },
          pluginsDir,
        );
        if (result.ok) return;
        invalid++;
        for (const issue of result.issues) {
          expect(issue.file).toBe(file);
          expect(Number.isInteger(issue.line) && issue.line >= 1, JSON.stringify(issue)).toBe(true);
          expect(Number.isInteger(issue.col) && issue.col >= 1, JSON.stringify(issue)).toBe(true);
          expect(typeof issue.message).toBe('string');
        }
      }),
      { seed: 42, numRuns: 1_000 },
    );
    // The generators reach the error paths (most files are invalid), not only valid files.
    expect(invalid).toBeGreaterThan(500);
  });
});
