import { dirname, join, relative, sep } from 'node:path';
import { readRegularFile } from '../config/read.js';
import { maxSchemaFileBytes } from '../contracts/files.js';

/** Most levels a schema's `$ref`s may climb above its own directory (the schemas directory's own depth cap). */
const maxClimb = 8;

/**
 * Where a schema file given on the command line sits in its schemas directory: the directory its
 * `$ref`s resolve in, and its name there. That is the file's own directory, or the ancestor its
 * relative `$ref`s climb to (`billing/invoice.json` referencing `../common/money.json` needs the
 * directory above `billing/`), so a file of a sub-directory is checked as a running Warren reads it.
 * A file that cannot be read or parsed stays in its own directory: its problem is reported there.
 */
export async function locateSchema(path: string): Promise<{ dir: string; name: string }> {
  const got = await readRegularFile(path, { maxBytes: maxSchemaFileBytes });
  const climb = 'text' in got ? refClimb(got.text) : 0;
  const dir = join(dirname(path), ...Array<string>(climb).fill('..'));
  return { dir, name: relative(dir, path).split(sep).join('/') };
}

/** How many levels above the file's directory its relative `$ref`s reach (0 when none climbs). */
export function refClimb(text: string): number {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return 0;
  }
  let climb = 0;
  // Without recursion: the document may nest deeper than the stack.
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') climb = Math.max(climb, climbOf(child));
      else stack.push(child);
    }
  }
  return Math.min(climb, maxClimb);
}

/** `../common/money.json#/x` climbs 1; `common/money.json`, `#/$defs/x` and absolute URIs climb 0. */
function climbOf(ref: string): number {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) || ref.startsWith('/')) return 0;
  const directories = ref
    .replace(/[?#].*$/, '')
    .split('/')
    .slice(0, -1);
  let depth = 0;
  let lowest = 0;
  for (const segment of directories) {
    if (segment === '..') lowest = Math.min(lowest, --depth);
    else if (segment !== '.' && segment !== '') depth++;
  }
  return -lowest;
}
