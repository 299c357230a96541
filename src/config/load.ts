import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, isScalar, LineCounter, parseAllDocuments } from 'yaml';

/** One YAML document of one route file, with what is needed to point back into the file. */
export interface RawDoc {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** JSON pointer into the document, '' for the document itself. */
  pointer: string;
  message: string;
}

export interface LoadedFiles {
  docs: RawDoc[];
  issues: ConfigIssue[];
  /** Hash of every file name and content, in load order. */
  version: string;
}

/** Route files are `*.yaml`/`*.yml`; hidden files and ConfigMap internals (`..data`, `..2024_…`) are not. */
export function isRouteFile(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/.test(name);
}

export async function listRouteFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && isRouteFile(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

export function parseRouteFile(file: string, text: string): { docs: RawDoc[]; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const docs: RawDoc[] = [];
  const issues: ConfigIssue[] = [];
  const all = Array.isArray(parsed) ? parsed : [];
  if (!Array.isArray(parsed)) {
    // An empty stream parses to an EmptyStream: nothing to load.
    return { docs, issues };
  }
  for (const doc of all) {
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      issues.push({
        file,
        line: pos.line,
        col: pos.col,
        pointer: '',
        message: `YAML syntax: ${err.message.split('\n')[0]}`,
      });
    }
    if (doc.errors.length === 0 && !isEmptyDocument(doc)) docs.push({ file, doc, lineCounter });
  }
  return { docs, issues };
}

/** `---` with nothing after it (a trailing separator, a commented-out document) defines nothing. */
function isEmptyDocument(doc: Document.Parsed): boolean {
  return doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
}

export async function loadRouteFiles(dir: string): Promise<LoadedFiles> {
  const hash = createHash('sha256');
  const docs: RawDoc[] = [];
  const issues: ConfigIssue[] = [];
  let files: string[];
  try {
    files = await listRouteFiles(dir);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'directory not found' : String(err);
    return { docs, issues: [{ file: dir, line: 0, col: 0, pointer: '', message: reason }], version: '' };
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    hash.update(file).update('\0').update(text).update('\0');
    const result = parseRouteFile(file, text);
    docs.push(...result.docs);
    issues.push(...result.issues);
  }
  return { docs, issues, version: hash.digest('hex').slice(0, 12) };
}
