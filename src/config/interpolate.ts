import { readFileSync } from 'node:fs';
import { isScalar, visit } from 'yaml';
import type { ConfigIssue, RawDoc } from './load.js';

const reference = /\$\$\{|\$\{(env|file):([^}]*)\}/g;

export interface InterpolationResult {
  issues: ConfigIssue[];
  /** Every value that a reference produced; redacted wherever configuration is shown. */
  secrets: string[];
}

/**
 * Replaces `${env:NAME}`, `${env:NAME:-default}` and `${file:/path}` in every string scalar, in
 * place, before validation. `$${` is a literal `${`. A missing variable or unreadable file is an
 * issue at the scalar's position.
 */
export function interpolateDocs(docs: RawDoc[], env: NodeJS.ProcessEnv = process.env): InterpolationResult {
  const issues: ConfigIssue[] = [];
  const secrets: string[] = [];
  for (const { file, doc, lineCounter } of docs) {
    visit(doc, {
      Scalar(_key, node, path) {
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        const problems: string[] = [];
        const value = node.value.replace(reference, (whole, kind?: string, arg?: string) => {
          if (whole === '$${') return '${';
          const resolved = kind === 'env' ? resolveEnv(arg ?? '', env) : resolveFile(arg ?? '');
          if ('error' in resolved) {
            problems.push(resolved.error);
            return '';
          }
          if (resolved.secret && resolved.value !== '') secrets.push(resolved.value);
          return resolved.value;
        });
        const pos = lineCounter.linePos(node.range?.[0] ?? 0);
        for (const message of problems) {
          issues.push({ file, line: pos.line, col: pos.col, pointer: pointerOf(path, node), message });
        }
        node.value = value;
      },
    });
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

function resolveFile(path: string): Resolved {
  try {
    return { value: readFileSync(path, 'utf8').replace(/\r?\n$/, ''), secret: true };
  } catch (err) {
    return { error: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
}

/** JSON pointer of a scalar from the visitor's ancestor path (pairs give the keys). */
function pointerOf(path: readonly unknown[], node: unknown): string {
  const parts: string[] = [];
  const chain = [...path, node];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1] as { items?: unknown[]; key?: unknown };
    const child = chain[i];
    if (parent && 'key' in parent && parent.key !== child && isScalar(parent.key)) {
      parts.push(String(parent.key.value));
    } else if (parent && Array.isArray(parent.items) && !('key' in parent)) {
      const index = parent.items.indexOf(child);
      if (index !== -1 && !isPairLike(child)) parts.push(String(index));
    }
  }
  return parts.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function isPairLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'key' in value && 'value' in value;
}
