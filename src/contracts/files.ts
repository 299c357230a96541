import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRegularFile } from '../config/read.js';
import type { SchemaFile, SchemaProblem } from './compile.js';

/** Cap on one schema file, like a route file's default: far above a real schema. */
export const maxSchemaFileBytes = 4 * 1024 * 1024;
/**
 * Caps on the walk, so a mount with a loop or a million files cannot hold a reload. They hold for
 * the whole walk: reaching one ends it (a tree like `/`, which `warren schema check` climbs to for
 * a file whose `$ref`s climb 8 levels, is not walked to its end).
 */
const maxDepth = 8;
const maxFiles = 1000;
const maxDirectories = 1000;
/** Cap on all the files read together (in characters): 1,000 files of 4 MiB would be 4 GiB in memory. */
const maxDirectoryChars = 64 * 1024 * 1024;

/** What the walk found so far, and whether a cap ended it. */
interface Walk {
  root: string;
  names: string[];
  directories: number;
  problems: SchemaProblem[];
  full: boolean;
}

/** A schema file: `*.json`, but not `*.examples.json` (example messages for `warren schema check`). */
export function isSchemaFile(name: string): boolean {
  return name.endsWith('.json') && !name.endsWith('.examples.json');
}

export function isExamplesFile(name: string): boolean {
  return name.endsWith('.examples.json');
}

export interface SchemaDirectory {
  files: SchemaFile[];
  /** Example files by the schema name they belong to (`order.v1.examples.json` → `order.v1.json`). */
  examples: SchemaFile[];
  problems: SchemaProblem[];
}

/**
 * Reads the schemas directory: every schema file below it (sub-directories too, named by their
 * relative `/`-separated path), sorted by name. Dot-entries are skipped (a ConfigMap mount keeps
 * its real files under `..data`; the visible names are links to them). A missing directory is an
 * empty one: a configuration with no `schema:` key needs none.
 */
export async function readSchemaDirectory(dir: string): Promise<SchemaDirectory> {
  const found: SchemaDirectory = { files: [], examples: [], problems: [] };
  const state: Walk = { root: dir, names: [], directories: 0, problems: found.problems, full: false };
  const missing = await walk(state, '', 0);
  if (missing) return found;
  let total = 0;
  for (const name of state.names.sort()) {
    const read = await readRegularFile(join(dir, name), { maxBytes: maxSchemaFileBytes });
    if ('error' in read) {
      found.problems.push({ file: name, message: `schema file ${read.error}` });
      continue;
    }
    total += read.text.length;
    if (total > maxDirectoryChars) {
      found.problems.push({
        file: name,
        message: `schemas directory holds more than ${maxDirectoryChars / 1024 / 1024} MiB of schema and example files`,
      });
      break;
    }
    (isExamplesFile(name) ? found.examples : found.files).push({ name, text: read.text });
  }
  return found;
}

/** Collects the relative names of schema and example files; true when the root itself does not exist. */
async function walk(state: Walk, prefix: string, depth: number): Promise<boolean> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(state.root, prefix), { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (depth === 0 && code === 'ENOENT') return true;
    state.problems.push({
      file: prefix || '.',
      message: `schemas directory cannot be read (${code ?? err})`,
    });
    return false;
  }
  for (const entry of entries) {
    if (state.full) return false;
    if (entry.name.startsWith('.')) continue;
    const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    // A directory symlink is not followed (it may loop); a file symlink is read like a file.
    if (entry.isDirectory()) {
      if (depth + 1 >= maxDepth) {
        state.problems.push({
          file: name,
          message: `schemas directory nests deeper than ${maxDepth} levels`,
        });
      } else if (++state.directories > maxDirectories) {
        stop(state, name, `schemas directory holds more than ${maxDirectories} directories`);
      } else {
        await walk(state, name, depth + 1);
      }
    } else if (entry.name.endsWith('.json')) {
      if (state.names.length >= maxFiles)
        stop(state, name, `schemas directory holds more than ${maxFiles} files`);
      else state.names.push(name);
    }
  }
  return false;
}

function stop(state: Walk, file: string, message: string): void {
  state.problems.push({ file, message });
  state.full = true;
}
