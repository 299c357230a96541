import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseRouteFile } from '../../src/config/documents.js';
import { formatDuration } from '../../src/config/duration.js';
import { validateLoaded } from '../../src/config/load.js';
import { planTopology } from '../../src/topology/plan.js';

/**
 * The cross-document checks now run on documents the schema refused (so one run reports every
 * mistake): they must never throw on broken input, every issue must point into the file, and what
 * passes must plan only names the broker takes.
 */

let plugins: string;
beforeAll(async () => {
  plugins = await mkdtemp(join(tmpdir(), 'warren-fuzz-plugins-'));
  await writeFile(join(plugins, 'ok.js'), 'export default (m) => m;\n');
});
afterAll(async () => {
  await rm(plugins, { recursive: true, force: true });
});

const tricky = fc.constantFrom<unknown>(
  '0ms',
  '1000h',
  '24h',
  '1500ms',
  0,
  65_536,
  -1,
  1e300,
  'http://',
  'http://h:99999/',
  'http://hooks.internal/x',
  'amq.topic',
  'amq.q',
  'q',
  'a\u0001b',
  'a\r\nb',
  'Київ',
  'ä'.repeat(128),
  'n'.repeat(250),
  '5xx',
  500,
  'ok.js',
  'missing.js',
  '../escape.js',
  '{{routingKey}}',
  '',
  null,
  true,
);
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
const scalar = fc.oneof(tricky, text, fc.integer(), fc.double({ noNaN: true }), fc.boolean());
const keyWord = fc.oneof(
  fc.constantFrom(
    'from',
    'queue',
    'bind',
    'exchange',
    'key',
    'to',
    'webhook',
    'republish',
    'plugin',
    'url',
    'timeout',
    'headers',
    'retryOn',
    'deadLetterOn',
    'circuit',
    'window',
    'cooldown',
    'retry',
    'attempts',
    'backoff',
    'deadLetter',
    'transform',
    'file',
    'rateLimit',
    'per',
    'rate',
    'prefetch',
    'type',
    'routingKey',
    'x-a',
    'bad header',
  ),
  text,
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyWord, tie('value'), { maxKeys: 4 }),
  ),
}));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, value);
const webhook = fc.record(
  {
    url: scalar,
    timeout: scalar,
    headers: maybe(fc.dictionary(keyWord, scalar, { maxKeys: 3 })),
    retryOn: maybe(fc.array(scalar, { maxLength: 3 })),
    deadLetterOn: maybe(fc.array(scalar, { maxLength: 3 })),
    circuit: maybe(fc.record({ window: scalar, cooldown: scalar }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
const target = fc.oneof(
  fc.record({ webhook }),
  fc.record({ republish: fc.record({ exchange: scalar, routingKey: scalar }, { requiredKeys: [] }) }),
  fc.record({ plugin: maybe(fc.record({ file: scalar, timeout: scalar }, { requiredKeys: [] })) }),
  value,
);
const route = fc.record(
  {
    from: maybe(fc.record({ queue: scalar, bind: value }, { requiredKeys: [] })),
    to: target,
    prefetch: scalar,
    transform: maybe(scalar),
    retry: maybe(
      fc.record({ attempts: scalar, backoff: fc.array(scalar, { maxLength: 3 }) }, { requiredKeys: [] }),
    ),
    deadLetter: maybe(fc.record({ queue: scalar }, { requiredKeys: [] })),
    rateLimit: maybe(fc.record({ rate: scalar, per: scalar }, { requiredKeys: [] })),
  },
  { requiredKeys: ['from', 'to'] },
);
const name = fc.oneof(tricky.map(String), text);
const document = fc.record(
  {
    exchanges: maybe(
      fc.dictionary(name, maybe(fc.record({ type: scalar }, { requiredKeys: [] })), { maxKeys: 2 }),
    ),
    queues: maybe(fc.dictionary(name, value, { maxKeys: 2 })),
    routes: maybe(fc.dictionary(name, route, { maxKeys: 3 })),
  },
  { requiredKeys: [] },
);

describe('validation of generated route files', () => {
  it('never throws, points every issue into the file, and passes only names the broker takes', () => {
    fc.assert(
      fc.property(fc.array(document, { minLength: 1, maxLength: 2 }), (docs) => {
        const files = docs.map((doc, i) => parseRouteFile(`f${i}.yaml`, stringify(doc)));
        const loaded = {
          docs: files.flatMap((f) => f.docs),
          issues: files.flatMap((f) => f.issues),
          version: 'fuzz',
        };
        const result = validateLoaded(loaded, {}, plugins);
        if (!result.ok) {
          for (const issue of result.issues) {
            expect(issue.file).toMatch(/^f\d\.yaml$/);
            expect(issue.line).toBeGreaterThanOrEqual(1);
            expect(issue.col).toBeGreaterThanOrEqual(1);
            expect(typeof issue.pointer).toBe('string');
            expect(issue.message.length).toBeGreaterThan(0);
          }
          return;
        }
        const plan = planTopology(result.config);
        const declared = [
          ...plan.exchanges.map((x) => x.name),
          ...plan.queues.map((q) => q.name),
          ...plan.routes.flatMap((r) => r.queues.map((q) => q.name)),
        ];
        for (const entity of declared) {
          expect(Buffer.byteLength(entity)).toBeLessThanOrEqual(255);
          expect(entity.startsWith('amq.')).toBe(false);
        }
        for (const r of plan.routes) {
          if (r.target.kind === 'webhook') expect(new URL(r.target.url).hostname).not.toBe('');
        }
      }),
      { seed: 42, numRuns: 1_000 },
    );
  });
});

describe('names near the 255-byte limit', () => {
  /** A name of `length` units of one-byte `n` or two-byte `ä`. */
  const nameOf = (units: Array<'n' | 'ä'>) => units.join('');
  const queue = fc
    .array(fc.constantFrom<'n' | 'ä'>('n', 'n', 'ä'), { minLength: 110, maxLength: 250 })
    .map(nameOf);
  const delay = fc.oneof(
    fc.constantFrom(0, 1, 999, 1_000, 1_500, 60_000, 86_399_999, 86_400_000),
    fc.integer({ min: 0, max: 86_400_000 }),
  );

  it('accepts a route exactly when every queue it makes Warren declare fits in 255 bytes', () => {
    fc.assert(
      fc.property(
        queue,
        fc.integer({ min: 1, max: 4 }),
        fc.array(delay, { minLength: 1, maxLength: 4 }),
        fc.option(queue, { nil: undefined }),
        (q, attempts, backoff, dlq) => {
          const lines = [
            'routes:',
            '  r:',
            `    from: { queue: "${q}" }`,
            '    to: { republish: { exchange: out } }',
            `    retry: { attempts: ${attempts}, backoff: [${backoff.join(', ')}] }`,
            ...(dlq === undefined ? [] : [`    deadLetter: { queue: "${dlq}" }`]),
            '',
          ];
          const result = validateLoaded(
            { ...parseRouteFile('r.yaml', lines.join('\n')), version: 'fuzz' },
            {},
            plugins,
          );
          // Worked out here, independently of the planner: the DLQ and one delay queue per delay.
          const bytes = (s: string) => Buffer.byteLength(s);
          const longest = Math.max(
            bytes(q),
            dlq === undefined ? bytes(`${q}.dlq`) : bytes(dlq),
            ...(attempts > 1 ? backoff.map((d) => bytes(`warren.retry.${q}.${formatDuration(d)}`)) : []),
          );
          expect(result.ok).toBe(longest <= 255);
          if (!result.ok) {
            // A name written in the file that is too long is reported itself (the derived ones are
            // then not worked out); otherwise the longest derived name, once.
            const own = [bytes(q), dlq === undefined ? 0 : bytes(dlq)].filter((b) => b > 255);
            const reported = result.issues.map((i) => Number(/(\d+) bytes long/.exec(i.message)?.[1]));
            expect(reported).toEqual(own.length > 0 ? own : [longest]);
          } else {
            const names = planTopology(result.config).routes[0]!.queues.map((x) => bytes(x.name));
            expect(Math.max(...names)).toBe(longest);
          }
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});
