import type { SchemaFiles } from '../config/types.js';
import { SchemaSet } from './compile.js';

/**
 * Compiled schema sets by the hash of their directory's content: every route version of one
 * directory shares one compile, and an unchanged directory is not compiled again by a reload. A
 * new directory is compiled when the first route version using it is made, while the versions
 * before it keep serving with the set they hold.
 */
export class SchemaSets {
  readonly #files = new Map<string, SchemaFiles>();
  readonly #sets = new Map<string, SchemaSet>();

  /** Remembers a loaded directory (compiled on first use). */
  add(files: SchemaFiles): void {
    if (!this.#files.has(files.hash)) this.#files.set(files.hash, files);
  }

  /** The compiled set of a directory added before. */
  get(hash: string): SchemaSet {
    let set = this.#sets.get(hash);
    if (!set) {
      const files = this.#files.get(hash);
      if (!files) throw new Error(`no schemas directory with hash ${hash} was loaded`);
      set = SchemaSet.compile(files.files).set;
      this.#sets.set(hash, set);
    }
    return set;
  }

  /** Forgets the directories no route version uses any more. */
  sweep(used: ReadonlySet<string>): void {
    for (const hash of this.#files.keys()) {
      if (used.has(hash)) continue;
      this.#files.delete(hash);
      this.#sets.delete(hash);
    }
  }
}
