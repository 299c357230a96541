import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { type SchemaProblem, SchemaSet } from '../contracts/compile.js';
import { readSchemaDirectory, type SchemaDirectory } from '../contracts/files.js';
import type { ConfigIssue } from './issues.js';
import { positionedProblem } from './schema-positions.js';
import type { SchemaFiles } from './types.js';

/** `--schemas` / `WARREN_SCHEMAS` when neither is given. */
export const defaultSchemasDir = './schemas';

/**
 * The schemas directory as read at load. It is compiled only once a route declares `schema:`, so a
 * configuration without message contracts never depends on what `./schemas` holds.
 */
export class SchemaCatalog {
  #compiled: { names: Set<string>; broken: Set<string>; problems: SchemaProblem[] } | undefined;

  constructor(
    readonly dir: string,
    readonly read: SchemaDirectory,
  ) {}

  /** No schema files: what validating documents directly (no directory read) checks against. */
  static empty(dir: string): SchemaCatalog {
    return new SchemaCatalog(dir, { files: [], examples: [], problems: [] });
  }

  static async load(dir: string): Promise<SchemaCatalog> {
    return new SchemaCatalog(dir, await readSchemaDirectory(dir));
  }

  /** The schema names a route may use, those that do not compile, and why. */
  compiled(): { names: Set<string>; broken: Set<string>; problems: SchemaProblem[] } {
    if (!this.#compiled) {
      const { set, problems } = SchemaSet.compile(this.read.files);
      const all = [...this.read.problems, ...problems];
      this.#compiled = { names: new Set(set.names), broken: new Set(all.map((p) => p.file)), problems: all };
    }
    return this.#compiled;
  }

  /** Every schema file name, compiled or not (for "did you mean" and the list in a message). */
  get fileNames(): string[] {
    return this.read.files.map((f) => f.name);
  }

  /** What the runtime compiles: every file, with the hash that keys the compiled set. */
  files(): SchemaFiles {
    return { dir: this.dir, hash: hashSchemaFiles(this.read.files), files: this.read.files };
  }

  /** Each problem as an issue at file:line:col inside the schema file. */
  issues(): ConfigIssue[] {
    const texts = new Map(this.read.files.map((f) => [f.name, f.text]));
    return this.compiled().problems.map((p) => schemaIssue(this.dir, p, texts.get(p.file)));
  }
}

/** Hash of the schemas directory as the load reads it (sub-directories too), problems included. */
export async function hashSchemaDirectory(dir: string): Promise<string> {
  const read = await readSchemaDirectory(dir);
  const problems = read.problems.map((p) => ({ name: `!${p.file}`, text: p.message }));
  return hashSchemaFiles([...read.files, ...read.examples, ...problems]);
}

/** Hash of the names and texts of the schema files, in order: equal directories hash equally. */
export function hashSchemaFiles(files: ReadonlyArray<{ name: string; text: string }>): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.name).update('\0').update(f.text).update('\0');
  return hash.digest('hex').slice(0, 12);
}

/** A schema problem where a reader goes, its file shown under the schemas directory. */
export function schemaIssue(dir: string, problem: SchemaProblem, text: string | undefined): ConfigIssue {
  return positionedProblem(join(dir, problem.file), text, problem);
}
