import { isAlias, isCollection, isPair, isScalar, type Node } from 'yaml';
import type { RawDoc } from './documents.js';
import type { ConfigIssue } from './issues.js';
import { maxInterpolatedFileBytes, type ReadResult, readRegularFileSync } from './read.js';

const reference = /\$\$\{|\$\{(env|file):([^}]*)\}/g;

export interface InterpolationResult {
  issues: ConfigIssue[];
  /** Every value that a reference produced; redacted wherever configuration is shown. */
  secrets: string[];
}

/**
 * Replaces `${env:NAME}`, `${env:NAME:-default}` and `${file:/path}` in every string scalar, in
 * place, before validation. `$${` is a literal `${`. A missing variable or a file that is not a
 * readable regular file of at most 1 MiB is an issue at the scalar's position.
 */
export function interpolateDocs(docs: RawDoc[], env: NodeJS.ProcessEnv = process.env): InterpolationResult {
  const issues: ConfigIssue[] = [];
  const secrets: string[] = [];
  /** Each file is read once per load, however often it is referenced. */
  const files = new Map<string, ReadResult>();
  const readFile = (path: string): ReadResult => {
    let read = files.get(path);
    if (!read) {
      read = readRegularFileSync(path, { maxBytes: maxInterpolatedFileBytes });
      files.set(path, read);
    }
    return read;
  };
  for (const { file, doc, lineCounter } of docs) {
    // Iterative, carrying each node's JSON pointer: linear however large a map is. Aliases are
    // not followed; the node they name is interpolated where it is written.
    const stack: Array<{ node: unknown; pointer: string }> = [{ node: doc.contents, pointer: '' }];
    while (stack.length > 0) {
      const { node, pointer } = stack.pop()!;
      if (!node || isAlias(node)) continue;
      if (isScalar(node)) {
        if (typeof node.value !== 'string' || !node.value.includes('${')) continue;
        const problems: string[] = [];
        const value = node.value.replace(reference, (whole, kind?: string, arg?: string) => {
          if (whole === '$${') return '${';
          const resolved = kind === 'env' ? resolveEnv(arg ?? '', env) : resolveFile(arg ?? '', readFile);
          if ('error' in resolved) {
            problems.push(resolved.error);
            return '';
          }
          if (resolved.secret && resolved.value !== '') secrets.push(resolved.value);
          return resolved.value;
        });
        const pos = lineCounter.linePos((node as Node).range?.[0] ?? 0);
        for (const message of problems) {
          issues.push({ file, line: Math.max(1, pos.line), col: Math.max(1, pos.col), pointer, message });
        }
        node.value = value;
        continue;
      }
      if (isCollection(node)) {
        node.items.forEach((item, index) => {
          if (isPair(item)) {
            const name = isScalar(item.key) ? String(item.key.value) : '';
            const child = `${pointer}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
            stack.push({ node: item.key, pointer }, { node: item.value, pointer: child });
          } else {
            stack.push({ node: item, pointer: `${pointer}/${index}` });
          }
        });
      }
    }
  }
  return { issues, secrets };
}

type Resolved = { value: string; secret: boolean } | { error: string };

/** A default is written in the file, so it is not a secret; a value from outside the file is. */
function resolveEnv(arg: string, env: NodeJS.ProcessEnv): Resolved {
  const sep = arg.indexOf(':-');
  const name = sep === -1 ? arg : arg.slice(0, sep);
  const value = env[name];
  if (value !== undefined && value !== '') return { value, secret: true };
  if (sep !== -1) return { value: arg.slice(sep + 2), secret: false };
  return { error: `environment variable ${name} is not set (use \${env:${name}:-default} for a default)` };
}

/** Only a regular file up to 1 MiB: a FIFO would block, `/dev/zero` would never end. */
function resolveFile(path: string, readFile: (path: string) => ReadResult): Resolved {
  const read = readFile(path);
  if ('error' in read) return { error: `cannot read ${path}: ${read.error}` };
  return { value: read.text.replace(/\r?\n$/, ''), secret: true };
}
