import { Ajv, type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { unknownFormat } from './formats.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** One file of the schemas directory: its name relative to the directory (`/`-separated), its text. */
export interface SchemaFile {
  name: string;
  text: string;
}

/**
 * Why a schema file cannot be used: the file, where in it (a JSON pointer into the schema, or a
 * character offset for a JSON syntax error), and the message. `config/` turns it into a positioned
 * issue (file:line:col).
 */
export interface SchemaProblem {
  file: string;
  message: string;
  /** JSON pointer into the schema document ('' for the whole document). */
  pointer?: string;
  /** Character offset of a JSON syntax error. */
  offset?: number;
}

/** A message body checked against one schema: undefined when it conforms, else its first errors. */
export type BodyCheck = (body: unknown) => readonly BodyError[] | undefined;

/** One reason a body does not conform: where in the body (JSON pointer) and what is wrong. */
export interface BodyError {
  pointer: string;
  message: string;
}

const draft07 = 'http://json-schema.org/draft-07/schema';
const draft2020 = 'https://json-schema.org/draft/2020-12/schema';

/**
 * Every schema file gets this base URI plus its name as its key, so a relative `$ref` between files
 * (`address.json`, `common/money.json#/$defs/amount`) resolves inside the directory. Nothing is
 * ever fetched: a `$ref` to anything else is a problem at load, not a network request.
 */
export const schemaBase = 'warren:/schemas/';

/**
 * ajv options: one error is enough to dead-letter a message (and `allErrors` would let a crafted
 * 8 MB array build millions of error objects); unknown keywords (`x-owner`, vendor annotations)
 * are ignored as the JSON Schema specification says, not refused. `strictNumbers` stays on
 * (`strict: false` turns it off): JSON.parse reads `1e400` as Infinity, which would otherwise pass
 * `type: integer` and `type: number`. `ownProperties`: a body's key is present only when sent; by
 * default ajv reads `data.constructor`, so `required: [constructor]` passed `{}` and
 * `properties: {constructor: {type: string}}` refused it (the Object function is no string).
 * ajv's logger is off: the one thing it would say (an unknown
 * format) is a problem of the file (`unknownFormat`), and a console line would break the JSON log.
 */
const options = {
  allErrors: false,
  strict: false,
  strictNumbers: true,
  ownProperties: true,
  validateFormats: true,
  logger: false,
} as const;

function instances(): { d2020: Ajv; d07: Ajv } {
  const d2020 = new Ajv2020(options) as unknown as Ajv;
  const d07 = new Ajv(options);
  addFormats(d2020);
  addFormats(d07);
  return { d2020, d07 };
}

/** Which dialect a schema declares: draft 2020-12 unless it says draft-07; anything else is refused. */
function dialectOf(schema: unknown): 'd2020' | 'd07' | { unsupported: string } {
  if (typeof schema !== 'object' || schema === null) return 'd2020';
  const declared = (schema as { $schema?: unknown }).$schema;
  if (declared === undefined) return 'd2020';
  if (typeof declared !== 'string') return { unsupported: String(declared) };
  const uri = declared.replace(/#$/, '');
  if (uri === draft2020) return 'd2020';
  if (uri === draft07 || uri === draft07.replace('http:', 'https:')) return 'd07';
  return { unsupported: declared };
}

/**
 * A JSON.parse failure as a problem: V8's message without the excerpt it quotes (the position says
 * where), and the character offset when it can be known. V8 gives `at position N`, or for an
 * unexpected token quotes up to 10 characters either side of it (`..."ed": ["a",],` cut at the
 * start: the token is 10 characters into the excerpt; cut only at the end: 10 before its end).
 * A short file quoted whole leaves the offset open: `config/schema-positions.ts` asks the YAML
 * parser then.
 */
export function jsonSyntaxProblem(file: string, text: string, err: Error): SchemaProblem {
  const at = /at position (\d+)/.exec(err.message);
  const quoted = /^(Unexpected token '[\s\S]+?'), (\.\.\.)?"([\s\S]*?)"(\.\.\.)? is not valid JSON$/.exec(
    err.message,
  );
  let offset = at ? Number(at[1]) : undefined;
  if (quoted) {
    const [, what = '', cutStart, excerpt = '', cutEnd] = quoted;
    const start = cutStart ? text.indexOf(excerpt) : 0;
    if (cutStart && start >= 0) offset = start + 10;
    else if (!cutStart && cutEnd) offset = excerpt.length - 10;
    return { file, message: `not valid JSON: ${what}`, ...(offset !== undefined ? { offset } : {}) };
  }
  return { file, message: `not valid JSON: ${err.message}`, ...(offset !== undefined ? { offset } : {}) };
}

/** Where ajv's "schema is invalid: data/properties/x/type must be …" points, as a JSON pointer. */
function pointerOfInvalidSchema(message: string): string | undefined {
  const match = /schema is invalid: data(\/[^ ,]*)?/.exec(message);
  return match ? (match[1] ?? '') : undefined;
}

/**
 * A compiled set of schema files: every file parsed, added under its name and compiled, so an
 * invalid schema or a `$ref` that resolves nowhere is found when the set is built, never when the
 * first message arrives. Immutable: a changed directory is a new set (the old one keeps serving
 * until the new one is ready).
 */
export class SchemaSet {
  readonly #checks: ReadonlyMap<string, BodyCheck>;

  private constructor(checks: ReadonlyMap<string, BodyCheck>) {
    this.#checks = checks;
  }

  /** The names of the schemas in the set, sorted. */
  get names(): string[] {
    return [...this.#checks.keys()].sort();
  }

  /** The check for a schema file by its name in the directory; undefined when there is none. */
  check(name: string): BodyCheck | undefined {
    return this.#checks.get(name);
  }

  /**
   * Parses and compiles every file. A file with a problem is left out of the set (and listed in
   * `problems`); the others compile unless they `$ref` it.
   */
  static compile(files: readonly SchemaFile[]): { set: SchemaSet; problems: SchemaProblem[] } {
    const problems: SchemaProblem[] = [];
    const ajv = instances();
    const added: Array<{ name: string; schema: unknown; ajv: Ajv }> = [];
    for (const file of files) {
      let schema: unknown;
      try {
        schema = JSON.parse(file.text);
      } catch (err) {
        problems.push(jsonSyntaxProblem(file.name, file.text, err as Error));
        continue;
      }
      if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
        if (typeof schema !== 'boolean') {
          problems.push({
            file: file.name,
            pointer: '',
            message: 'a JSON Schema is an object (or true/false)',
          });
          continue;
        }
      }
      const dialect = dialectOf(schema);
      if (typeof dialect === 'object') {
        problems.push({
          file: file.name,
          pointer: '/$schema',
          message: `unsupported $schema ${JSON.stringify(dialect.unsupported).slice(0, 120)}: use draft 2020-12 (${draft2020}) or draft-07 (${draft07}#)`,
        });
        continue;
      }
      try {
        ajv[dialect].addSchema(schema as AnySchema, schemaBase + file.name);
        added.push({ name: file.name, schema, ajv: ajv[dialect] });
      } catch (err) {
        problems.push(problemOf(file.name, err as Error));
      }
    }
    const checks = new Map<string, BodyCheck>();
    for (const { name, schema, ajv: instance } of added) {
      try {
        const validate = instance.getSchema(schemaBase + name);
        const problem = validate && (unusable(name, validate) ?? formatProblem(name, schema, instance));
        if (problem) problems.push(problem);
        else if (validate) checks.set(name, checkOf(validate));
      } catch (err) {
        problems.push(problemOf(name, err as Error));
      }
    }
    return { set: new SchemaSet(checks), problems };
  }
}

/** Values of every type a body can have: a check that overflows the stack on one of them loops. */
const probes: readonly unknown[] = [null, true, 0, '', [], {}];

/**
 * A compiled schema that cannot give a verdict. An `$async` schema's check returns a promise (which
 * is truthy: it would pass every body, and its rejection would be unhandled). A `$ref` chain that
 * comes back to itself without reaching into the message (`a.json` → `b.json` → `a.json`, or a
 * `$dynamicRef` with no anchor) overflows the stack on every body: each would be dead-lettered as
 * nested too deeply. Recursion that descends into the message (a tree) checks the probes fine.
 */
function unusable(file: string, validate: ValidateFunction): SchemaProblem | undefined {
  if ((validate as { $async?: boolean }).$async) {
    return {
      file,
      pointer: '/$async',
      message: '$async schemas are not supported: a message is checked synchronously before delivery',
    };
  }
  for (const probe of probes) {
    try {
      validate(probe);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return {
        file,
        pointer: '',
        message:
          'the schema is a $ref loop: it refers back to itself without reaching into the message, so it can check no body',
      };
    }
  }
  return undefined;
}

function formatProblem(file: string, schema: unknown, instance: Ajv): SchemaProblem | undefined {
  return unknownFormat(file, schema, (name) => Object.hasOwn(instance.formats, name));
}

function problemOf(file: string, err: Error): SchemaProblem {
  // Compiling overflowed the stack: a $ref chain that never ends, or a schema nested absurdly deep or so large (50,000 properties) that ajv's generated code overflows.
  if (err instanceof RangeError) {
    return {
      file,
      pointer: '',
      message:
        'compiling the schema overflowed the stack: a $ref loop, or a schema nested too deeply or too large',
    };
  }
  const missing = (err as { missingRef?: string }).missingRef;
  if (missing !== undefined) {
    const shown = missing.startsWith(schemaBase) ? missing.slice(schemaBase.length) : missing;
    return {
      file,
      pointer: '',
      message: `$ref ${JSON.stringify(shown)} resolves to no schema in the schemas directory (nothing is fetched; a file must use the same $schema draft as the files it references)`,
    };
  }
  const pointer = pointerOfInvalidSchema(err.message);
  return {
    file,
    message: err.message.replace(/^schema is invalid: /, 'not a valid JSON Schema: '),
    ...(pointer !== undefined ? { pointer } : {}),
  };
}

/** Most errors a body reports; and most characters of a pointer (body keys are the sender's). */
const maxErrors = 3;
const maxPointerChars = 120;

function checkOf(validate: ValidateFunction): BodyCheck {
  return (body) => {
    if (validate(body)) return undefined;
    return (validate.errors ?? []).slice(0, maxErrors).map(bodyErrorOf);
  };
}

function bodyErrorOf(error: ErrorObject): BodyError {
  const pointer = error.instancePath;
  let message = error.message ?? `fails ${error.keyword}`;
  const extra = (error.params as { additionalProperty?: unknown }).additionalProperty;
  if (typeof extra === 'string') message += `: ${JSON.stringify(extra.slice(0, 60))}`;
  return {
    pointer: pointer.length > maxPointerChars ? `${pointer.slice(0, maxPointerChars)}…` : pointer,
    message,
  };
}

/** The errors in one line, for `x-warren-error` and logs: `schema: /items/0/sku must be string; …`. */
export function describeBodyErrors(errors: readonly BodyError[]): string {
  return `schema: ${errors.map((e) => `${e.pointer === '' ? '(root)' : e.pointer} ${e.message}`).join('; ')}`;
}
