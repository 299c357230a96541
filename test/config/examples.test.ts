import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isRouteFile, parseRouteFile } from '../../src/config/documents.js';
import { isDuration } from '../../src/config/duration.js';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig, validateLoaded } from '../../src/config/load.js';
import { routesSchema } from '../../src/config/schema.js';
import { SchemaCatalog } from '../../src/config/schemas.js';
import { targets } from '../../src/targets/registry.js';
import { repoRoot } from './route-dir.js';

const routesDir = join(repoRoot, 'routes.d');
const committedSchemaPath = join(repoRoot, 'schema/routes.schema.json');
const routeFiles = readdirSync(routesDir).filter(isRouteFile).sort();

/** Validates YAML text as one route file, the way `warren validate` would. */
function validateText(file: string, text: string) {
  const parsed = parseRouteFile(file, text);
  return validateLoaded({ ...parsed, version: 'test' }, {}, './plugins', exampleSchemas);
}

/** The schemas the example routes name (`routes.d/50-contracts.yaml`). */
let exampleSchemas: SchemaCatalog;
beforeAll(async () => {
  exampleSchemas = await SchemaCatalog.load(join(repoRoot, 'schemas'));
});

describe('routes.d examples', () => {
  it('holds at least one route file', () => {
    expect(routeFiles.length).toBeGreaterThan(0);
  });

  it.each(routeFiles)('routes.d/%s validates on its own', async (name) => {
    const file = join(routesDir, name);
    const result = validateText(file, await readFile(file, 'utf8'));

    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
  });

  it('validates as a whole directory, with routes in it', async () => {
    const result = await loadConfig(routesDir, {}, './plugins', { schemasDir: join(repoRoot, 'schemas') });

    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    expect(result.ok && result.config.routes.length).toBeGreaterThan(0);
  });
});

describe("the examples keep held deliveries under the broker's consumer_timeout", () => {
  // A delivery held by an open circuit waits up to prefetch × cooldown (one probe per cooldown);
  // one held by a rate limit up to prefetch / rate. RabbitMQ's default consumer_timeout is 30 min.
  const consumerTimeoutMs = 30 * 60_000;

  it('every route of routes.d', async () => {
    const result = await loadConfig(routesDir, {}, './plugins', { schemasDir: join(repoRoot, 'schemas') });
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const over = result.config.routes.flatMap((route) => {
      const target = route.target;
      const circuitHold =
        target.kind === 'webhook' && target.circuit ? route.prefetch * target.circuit.cooldownMs : 0;
      const rateHold = route.rateLimit ? (route.prefetch / route.rateLimit.rate) * route.rateLimit.perMs : 0;
      const worst = Math.max(circuitHold, rateHold);
      return worst >= consumerTimeoutMs ? [`${route.name}: up to ${worst / 60_000} min`] : [];
    });

    expect(over).toEqual([]);
  });
});

describe('target examples', () => {
  const examples = targets.flatMap((target) =>
    target.examples.map((example, index) => ({ kind: target.kind, index, example })),
  );

  it.each(targets.map((t) => t.kind))('the %s target declares at least one example', (kind) => {
    expect(targets.find((t) => t.kind === kind)?.examples.length).toBeGreaterThan(0);
  });

  it.each(examples)('$kind example $index validates inside a minimal route', ({ kind, example }) => {
    const text = stringify({
      routes: { example: { from: { queue: 'example.q' }, to: { [kind]: example } } },
    });

    const result = validateText(`${kind}-example.yaml`, text);

    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    expect(result.ok && result.config.routes[0]?.target.kind).toBe(kind);
  });

  it.each(examples)(
    '$kind example $index validates against the committed JSON Schema',
    async ({ kind, example }) => {
      // The file editors use, not the in-memory object: this also catches a stale schema/.
      const schema = JSON.parse(await readFile(committedSchemaPath, 'utf8')) as object;
      const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
      const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
      ajv.addFormat('duration', { type: 'string', validate: (s: string) => isDuration(s) });
      const validate = ajv.compile(schema);

      const valid = validate({
        routes: { example: { from: { queue: 'example.q' }, to: { [kind]: example } } },
      });

      expect(validate.errors ?? []).toEqual([]);
      expect(valid).toBe(true);
    },
  );
});

describe('schema/routes.schema.json', () => {
  it('is the generated schema (run `npm run schema` and commit the result when this fails)', async () => {
    const committed = await readFile(committedSchemaPath, 'utf8');
    const generated = `${JSON.stringify(routesSchema, null, 2)}\n`;

    expect(
      committed === generated,
      'schema/routes.schema.json is out of date: run `npm run schema` and commit the result',
    ).toBe(true);
  });

  it('describes every target under `to`', () => {
    const to = routesSchema.properties.routes.additionalProperties.properties.to;

    expect(Object.keys(to.properties).sort()).toEqual(targets.map((t) => t.kind).sort());
  });
});
