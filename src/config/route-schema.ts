import type { RouteCheck } from './checks.js';
import { escapePointer } from './issues.js';
import type { RawRoute } from './schema.js';
import type { SchemaCatalog } from './schemas.js';
import { suggest } from './suggest.js';
import type { MessageSchema, RouteSpec, SchemaChoice } from './types.js';

/** Names listed in an "unknown schema" message, at most: a directory may hold hundreds. */
const listedNames = 12;

/** What a route's contracts add to it, whether it names any schema, and whether every name resolved. */
export interface RouteContracts {
  spec: Pick<RouteSpec, 'schema' | 'outputSchema'>;
  uses: boolean;
  ok: boolean;
}

/** The route's `schema:` and its target's `schema` (webhook or republish), resolved in the directory. */
export function resolveContracts(check: RouteCheck, r: RawRoute, catalog: SchemaCatalog): RouteContracts {
  const spec: RouteContracts['spec'] = {};
  const schema = resolveRouteSchema(check, r, catalog);
  if (schema) spec.schema = schema;
  const kind = r.to?.webhook ? 'webhook' : r.to?.republish ? 'republish' : undefined;
  const output = kind ? r.to?.[kind]?.schema : undefined;
  let ok = schema !== false;
  if (kind && output !== undefined && check.ok(`/to/${kind}/schema`)) {
    const problem = schemaNameProblem(catalog, output);
    if (problem) check.fail(`/to/${kind}/schema`, problem);
    else spec.outputSchema = { name: output, setHash: catalog.files().hash };
    ok &&= problem === undefined;
  }
  return { spec, uses: r.schema !== undefined || output !== undefined, ok };
}

/**
 * A route's `schema:` normalised, each schema name it uses checked against the schemas directory:
 * undefined without the key, false when a name is unknown or its file does not compile (an issue
 * at the name, file:line:col; the file's own problem is reported inside the schema file).
 */
export function resolveRouteSchema(
  check: RouteCheck,
  r: RawRoute,
  catalog: SchemaCatalog,
): MessageSchema | undefined | false {
  const raw = r.schema;
  if (raw === undefined || !check.ok('/schema')) return undefined;
  const { hash: setHash } = catalog.files();
  const uses: Array<[string, string]> =
    typeof raw === 'string'
      ? [['/schema', raw]]
      : Object.entries(raw.map).map(([value, name]) => [`/schema/map/${escapePointer(value)}`, name]);
  let fine = true;
  for (const [sub, name] of uses) {
    const problem = schemaNameProblem(catalog, name);
    if (problem) {
      check.fail(sub, problem);
      fine = false;
    }
  }
  if (!fine) return false;
  if (typeof raw === 'string') return { name: raw, setHash };
  const choose: SchemaChoice = {
    by: raw.by === 'type' ? { property: 'type' } : { header: raw.by.slice('header:'.length) },
    map: { ...raw.map },
    otherwise: raw.otherwise ?? 'deadLetter',
  };
  return { choose, setHash };
}

function schemaNameProblem(catalog: SchemaCatalog, name: string): string | undefined {
  const { names, broken } = catalog.compiled();
  if (names.has(name)) return undefined;
  if (broken.has(name)) {
    return `schema \`${name}\` cannot be used: it does not compile (see the issue in ${catalog.dir})`;
  }
  const all = catalog.fileNames;
  const near = suggest(name, all);
  const hint = near ? `; did you mean \`${near}\`?` : '';
  const listed =
    all.length === 0
      ? 'it holds no schema files'
      : `it holds: ${all.slice(0, listedNames).join(', ')}${all.length > listedNames ? `, … (${all.length} in all)` : ''}`;
  return `schema \`${name}\` is not in the schemas directory ${catalog.dir} (--schemas)${hint} — ${listed}`;
}
