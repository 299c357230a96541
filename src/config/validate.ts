import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { targets } from '../targets/registry.js';
import type { RawDoc } from './documents.js';
import { isDuration } from './duration.js';
import { type ConfigIssue, distinctIssues, escapePointer, issueAt } from './issues.js';
import { addWarrenKeywords, warrenKeywords } from './keywords.js';
import { routesSchema } from './schema.js';
import { suggest } from './suggest.js';

/** Validate: one route-file document against the schema, each error an issue at its line. */

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
addFormats(ajv);
ajv.addFormat('duration', { type: 'string', validate: (s: string) => isDuration(s) });
addWarrenKeywords(ajv);
const matchesSchema = ajv.compile(routesSchema);

export interface CheckedDoc {
  raw: RawDoc;
  /** The document as data: schema-valid only where `broken` says so. */
  data: unknown;
  broken: (pointer: string) => boolean;
}

/**
 * The document checked against the schema. A document with schema errors is still returned:
 * they only skip the checks whose own input they break, so one run reports every mistake
 * (docs/errors.md). Without `checked` the document could not even be read as data.
 */
export function validateDocument(raw: RawDoc): { checked?: CheckedDoc; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const data = toData(raw, issues);
  if (data === undefined) return { issues };
  const errors = matchesSchema(data) ? [] : (matchesSchema.errors ?? []);
  return { checked: { raw, data, broken: brokenBy(errors) }, issues: toIssues(raw, errors) };
}

/**
 * The document as plain data. Aliases were checked when loading (anchor before alias, no cycle,
 * expansion capped), so the library's own alias cap, which refuses an anchor used more than 100
 * times, is off; anything the conversion still throws is an issue at the document's start.
 */
function toData(raw: RawDoc, issues: ConfigIssue[]): unknown {
  try {
    return raw.doc.toJS({ maxAliasCount: -1 }) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    issues.push(issueAt(raw, '', `YAML: ${message}`));
    return undefined;
  }
}

function toIssues(raw: RawDoc, errors: ErrorObject[]): ConfigIssue[] {
  const kept: ErrorObject[] = [];
  // anyOf reports each branch too. For a duration keep only the anyOf's own message; otherwise
  // (string-or-object) keep what the object branch said (unknown key, …), without the type noise.
  const anyOf = errors.filter((e) => e.keyword === 'anyOf');
  const durationPaths = new Set(
    anyOf.filter((e) => isDurationSchema(e.parentSchema)).map((e) => e.instancePath),
  );
  const otherPaths = new Set(
    anyOf.filter((e) => !isDurationSchema(e.parentSchema)).map((e) => e.instancePath),
  );
  // A branch's own error, at the value or inside it (a bad `timeout` inside `{ file, timeout }`).
  const detailed = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && e.keyword !== 'type' && e.keyword !== 'const') {
      addWithAncestors(detailed, e.instancePath);
    }
  }
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && durationPaths.has(error.instancePath)) continue;
    // The branch that does not apply (`false` of `circuit: false | {…}`, the string of `file | {…}`).
    if ((error.keyword === 'type' || error.keyword === 'const') && otherPaths.has(error.instancePath)) {
      continue;
    }
    if (
      error.keyword === 'anyOf' &&
      !durationPaths.has(error.instancePath) &&
      detailed.has(error.instancePath)
    ) {
      continue;
    }
    kept.push(error);
  }
  return distinctIssues(raw, kept.map(describe));
}

/** Keywords that leave the value's own keys checkable: a missing or unknown sibling key. */
const softKeywords = new Set([
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'amqpKeys',
]);

/**
 * Whether the schema errors break the value at a pointer: an error at it or inside it, or one above
 * it that makes the parent something else than the object the pointer walks through.
 */
function brokenBy(errors: ErrorObject[]): (pointer: string) => boolean {
  // Indexed once, so each check costs the depth of its pointer, not the number of errors: a file
  // with thousands of mistakes stays linear.
  const touched = new Set<string>(); // every error's pointer and all its ancestors
  const hard = new Set<string>();
  for (const error of errors) {
    const { pointer } = describe(error);
    if (!softKeywords.has(error.keyword)) hard.add(pointer);
    addWithAncestors(touched, pointer);
  }
  return (pointer) => {
    if (touched.has(pointer)) return true;
    for (let p = pointer; p !== ''; ) {
      p = parentPointer(p);
      if (hard.has(p)) return true;
    }
    return false;
  };
}

function parentPointer(pointer: string): string {
  return pointer.slice(0, Math.max(0, pointer.lastIndexOf('/')));
}

function addWithAncestors(set: Set<string>, pointer: string): void {
  for (let p = pointer; !set.has(p); p = parentPointer(p)) {
    set.add(p);
    if (p === '') break;
  }
}

function describe(error: ErrorObject): { pointer: string; message: string; atKey: boolean } {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;
  if (warrenKeywords.has(error.keyword)) {
    return { pointer: path, message: error.message ?? 'invalid', atKey: params.atKey === true };
  }
  switch (error.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
      const near = suggest(key, allowed);
      const hint = near
        ? `; did you mean \`${near}\`?`
        : allowed.length
          ? ` (expected one of: ${allowed.join(', ')})`
          : '';
      return {
        pointer: `${path}/${escapePointer(key)}`,
        message: `unknown key \`${key}\`${hint}`,
        atKey: true,
      };
    }
    case 'required':
      return {
        pointer: path,
        message: `missing required key \`${String(params.missingProperty)}\``,
        atKey: false,
      };
    case 'enum':
      return {
        pointer: path,
        message: `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`,
        atKey: false,
      };
    case 'anyOf':
      if (isDurationSchema(error.parentSchema)) {
        return {
          pointer: path,
          message: 'must be a duration such as 250ms, 10s, 2m, 1h or integer milliseconds',
          atKey: false,
        };
      }
      if (isStatusSchema(error.parentSchema)) {
        return { pointer: path, message: statusMessage, atKey: false };
      }
      return { pointer: path, message: 'does not match any allowed form', atKey: false };
    case 'minProperties':
    case 'maxProperties':
      if (path.endsWith('/to')) {
        return {
          pointer: path,
          message: `needs exactly one target: ${targets.map((t) => t.kind).join(', ')}`,
          atKey: false,
        };
      }
      return { pointer: path, message: error.message ?? 'invalid', atKey: false };
    case 'type':
      return { pointer: path, message: `must be ${[params.type].flat().join(' or ')}`, atKey: false };
    case 'pattern': {
      if (params.pattern === statusClassPattern) {
        return { pointer: path, message: statusMessage, atKey: false };
      }
      // A pattern means little to a reader: the schema's description says what is expected.
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      const expected = description
        ? `must be ${description[0]!.toLowerCase()}${description.slice(1).replace(/\.$/, '')}`
        : error.message;
      return { pointer: path, message: expected ?? 'invalid', atKey: false };
    }
    case 'format':
      return { pointer: path, message: `${error.message ?? 'invalid'}`, atKey: false };
    default:
      return { pointer: path, message: error.message ?? `fails ${error.keyword}`, atKey: false };
  }
}

const statusClassPattern = '^[345]xx$';
const statusMessage = 'must be a status from 300 to 599, or 3xx, 4xx or 5xx';

function isStatusSchema(schema: unknown): boolean {
  const branches = (schema as { anyOf?: Array<{ pattern?: string }> })?.anyOf ?? [];
  return branches.some((b) => b.pattern === statusClassPattern);
}

function isDurationSchema(schema: unknown): boolean {
  const branches = (schema as { anyOf?: Array<{ format?: string }> })?.anyOf ?? [];
  return branches.some((b) => b.format === 'duration');
}
