import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Alias,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  LineCounter,
  type Node,
  parseAllDocuments,
} from 'yaml';
import type { ConfigIssue } from './issues.js';
import { defaultMaxFileBytes, describeReadError, readRegularFile } from './read.js';

/**
 * Read: the routes directory as YAML documents, each inspected (duplicate keys, aliases, depth)
 * before anything converts or recurses into it. Nothing here knows the schema.
 */

/** One YAML document of one route file, with what is needed to point back into the file. */
export interface RawDoc {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Every alias with the node it stands for, resolved once in document order. */
  aliases: Map<Alias, Node>;
}

export interface LoadedFiles {
  docs: RawDoc[];
  issues: ConfigIssue[];
  /** Hash of every file name and content, in load order. */
  version: string;
}

export interface LoadOptions {
  /** Largest route file read, in bytes (`--max-file-bytes`); default 4 MiB. */
  maxFileBytes?: number;
  /** The schemas directory a route's `schema:` names files in (`--schemas`); default ./schemas. */
  schemasDir?: string;
}

/** Collections nested deeper than this are refused before anything recurses into them. */
export const maxNesting = 64;
/** Nodes that aliases may add to a document when expanded: an alias bomb stops here. */
export const maxAliasExpansion = 1_000_000;

/** Route files are `*.yaml`/`*.yml`; hidden files and ConfigMap internals (`..data`, `..2024_…`) are not. */
export function isRouteFile(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/.test(name);
}

/**
 * Entries named like a route file, except real sub-directories: a symlink (to a directory, or to
 * nowhere during a ConfigMap swap), a FIFO or a device named `x.yaml` is reported when read
 * rather than silently skipped.
 */
export async function listRouteFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory() && isRouteFile(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

export function parseRouteFile(file: string, text: string): { docs: RawDoc[]; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const docs: RawDoc[] = [];
  const issues: ConfigIssue[] = [];
  let parsed: Document.Parsed[] | { empty: true };
  try {
    // uniqueKeys is checked below, in one pass: the library's check is quadratic in a map's size.
    const all = parseAllDocuments(text, {
      lineCounter,
      prettyErrors: false,
      uniqueKeys: false,
      // Problems are issues; the library must not write warnings to the process's stderr.
      logLevel: 'error',
    });
    parsed = Array.isArray(all) ? (all as Document.Parsed[]) : { empty: true };
  } catch (err) {
    issues.push(issueAtOffset(file, lineCounter, 0, `YAML syntax: ${firstLine(err)}`));
    return { docs, issues };
  }
  if (!Array.isArray(parsed)) {
    // An empty stream parses to an EmptyStream: nothing to load.
    return { docs, issues };
  }
  for (const doc of parsed) {
    for (const err of doc.errors) {
      issues.push(issueAtOffset(file, lineCounter, err.pos[0], `YAML syntax: ${firstLine(err)}`));
    }
    if (doc.errors.length > 0 || isEmptyDocument(doc)) continue;
    const inspected = inspectDocument(doc, lineCounter);
    for (const problem of inspected.problems) {
      issues.push(issueAtOffset(file, lineCounter, problem.offset, problem.message));
    }
    if (inspected.problems.length === 0) docs.push({ file, doc, lineCounter, aliases: inspected.aliases });
  }
  return { docs, issues };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

function issueAtOffset(file: string, lineCounter: LineCounter, offset: number, message: string): ConfigIssue {
  const pos = lineCounter.linePos(Math.max(0, offset));
  return { file, line: Math.max(1, pos.line), col: Math.max(1, pos.col), pointer: '', message };
}

/** `---` with nothing after it (a trailing separator, a commented-out document) defines nothing. */
function isEmptyDocument(doc: Document.Parsed): boolean {
  return doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
}

interface Problem {
  offset: number;
  message: string;
}

const offsetOf = (node: { range?: readonly number[] | null } | null | undefined): number =>
  node?.range?.[0] ?? 0;

/**
 * One pass over a document, before anything converts or recurses into it: duplicate keys (as
 * the YAML spec forbids), aliases without an anchor before them or inside the node they name,
 * alias expansion beyond `maxAliasExpansion` nodes (billion laughs) and nesting deeper than
 * `maxNesting`. Iterative, linear in the document's size.
 */
function inspectDocument(
  doc: Document.Parsed,
  lineCounter: LineCounter,
): { problems: Problem[]; aliases: Map<Alias, Node> } {
  const problems: Problem[] = [];
  const aliases = new Map<Alias, Node>();
  const anchors = new Map<string, Node>();
  /** Expanded size (nodes) of each finished node that an anchor names. */
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  let expansion = 0;
  let expansionReported = false;
  // Post-order with an explicit stack: `exit` entries compute a collection's size after its items.
  type Frame = { node: unknown; depth: number; exit?: boolean; sum?: { value: number } };
  const root = { value: 0 };
  const stack: Array<Frame & { into: { value: number } }> = [{ node: doc.contents, depth: 0, into: root }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const node = frame.node;
    if (frame.exit) {
      const collection = node as Node;
      open.delete(collection);
      const size = 1 + frame.sum!.value;
      if (collection.anchor) sizes.set(collection, size);
      frame.into.value += size;
      continue;
    }
    if (node === null || node === undefined) continue;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) {
        problems.push({
          offset: offsetOf(node),
          message: `YAML: alias *${node.source} has no anchor &${node.source} before it`,
        });
        continue;
      }
      if (open.has(target)) {
        problems.push({
          offset: offsetOf(node),
          message: `YAML: alias *${node.source} is inside the node it names (a cycle)`,
        });
        continue;
      }
      aliases.set(node, target);
      const size = sizes.get(target) ?? 1;
      expansion += size;
      frame.into.value += size;
      if (expansion > maxAliasExpansion && !expansionReported) {
        expansionReported = true;
        problems.push({
          offset: offsetOf(node),
          message: `YAML: aliases expand to more than ${maxAliasExpansion.toLocaleString('en-US')} nodes (an alias bomb?)`,
        });
      }
      continue;
    }
    if (isScalar(node)) {
      if (node.anchor) {
        anchors.set(node.anchor, node);
        sizes.set(node, 1);
      }
      frame.into.value += 1;
      continue;
    }
    if (isCollection(node)) {
      if (frame.depth >= maxNesting) {
        problems.push({
          offset: offsetOf(node),
          message: `YAML: nested deeper than ${maxNesting} levels`,
        });
        return { problems, aliases };
      }
      // An anchor is defined where its node starts: an alias inside it sees it (and is a cycle).
      if (node.anchor) anchors.set(node.anchor, node);
      open.add(node);
      const sum = { value: 0 };
      stack.push({ node, depth: frame.depth, exit: true, sum, into: frame.into });
      const seen = isMap(node) ? new Map<string, Node>() : undefined;
      const children: Array<Frame & { into: { value: number } }> = [];
      for (const item of node.items) {
        if (isPair(item)) {
          const key = item.key as Node | null;
          if (isCollection(key) || isAlias(key)) {
            problems.push({ offset: offsetOf(key), message: 'YAML: a map key must be a plain value' });
          }
          if (seen && isScalar(key)) {
            const name = String(key.value);
            const first = seen.get(name);
            if (first) {
              problems.push({
                offset: offsetOf(key),
                message: `YAML syntax: Map keys must be unique: \`${name}\` is also at line ${lineCounter.linePos(offsetOf(first)).line}`,
              });
            } else seen.set(name, key);
          }
          children.push({ node: key, depth: frame.depth + 1, into: sum });
          children.push({ node: item.value, depth: frame.depth + 1, into: sum });
        } else {
          children.push({ node: item, depth: frame.depth + 1, into: sum });
        }
      }
      // Reversed onto the stack, so items are visited in document order (anchors before aliases).
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }
  return { problems, aliases };
}

export async function loadRouteFiles(dir: string, options: LoadOptions = {}): Promise<LoadedFiles> {
  const maxBytes = options.maxFileBytes ?? defaultMaxFileBytes;
  const hash = createHash('sha256');
  const docs: RawDoc[] = [];
  const issues: ConfigIssue[] = [];
  let files: string[];
  try {
    files = await listRouteFiles(dir);
  } catch (err) {
    return { docs, issues: [directoryIssue(dir, err)], version: '' };
  }
  for (const file of files) {
    const read = await readRegularFile(file, { maxBytes, setting: ' (--max-file-bytes)' });
    if ('error' in read) {
      hash.update(file).update('\0!').update(read.error).update('\0');
      issues.push({ file, line: 1, col: 1, pointer: '', message: `route file ${read.error}` });
      continue;
    }
    hash.update(file).update('\0').update(read.text).update('\0');
    const result = parseRouteFile(file, read.text);
    for (const doc of result.docs) docs.push(doc);
    for (const issue of result.issues) issues.push(issue);
  }
  return { docs, issues, version: hash.digest('hex').slice(0, 12) };
}

/** The routes directory itself is missing or is not a directory: said in words, at 1:1. */
function directoryIssue(dir: string, err: unknown): ConfigIssue {
  const code = (err as NodeJS.ErrnoException).code;
  const message =
    code === 'ENOENT'
      ? 'routes directory not found (set it with --routes or WARREN_ROUTES)'
      : code === 'ENOTDIR'
        ? 'is a file, not a directory: --routes (WARREN_ROUTES) names the directory holding the *.yaml route files'
        : `routes directory ${describeReadError(err)}`;
  return { file: dir, line: 1, col: 1, pointer: '', message };
}
