import type { ErrorCode } from '../errors.js';
import type { RawDoc } from './documents.js';
import { positionOf } from './positions.js';

/** One mistake in the route files, at the line and column a reader goes to. */
export interface ConfigIssue {
  file: string;
  /** 1-based; a problem with a whole file or directory is at 1:1. */
  line: number;
  col: number;
  /** JSON pointer into the document, '' for the document itself. */
  pointer: string;
  message: string;
}

/** An issue at what a JSON pointer names in a document: its value, or with `atKey` its key. */
export function issueAt(raw: RawDoc, pointer: string, message: string, atKey = false): ConfigIssue {
  const pos = positionOf(raw, pointer, atKey);
  return { file: raw.file, line: pos.line, col: pos.col, pointer, message };
}

/** What a schema error says, and where: the value at `pointer`, or with `atKey` its key. */
export interface Described {
  pointer: string;
  message: string;
  atKey: boolean;
}

/** Positioned issues for described schema errors, each place and message once (ajv repeats them). */
export function distinctIssues(raw: RawDoc, described: Iterable<Described>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const { pointer, message, atKey } of described) {
    const key = `${pointer}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issueAt(raw, pointer, message, atKey));
  }
  return issues;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** In file order; issues at the same place keep the order they were found in. */
export function sortIssues<T extends ConfigIssue>(issues: T[]): T[] {
  return issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

/** `file:line:col message (at /pointer)`: the one-line form used by the CLI and the log. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.pointer ? ` (at ${issue.pointer})` : '';
  return `${issue.file}:${issue.line}:${issue.col} ${issue.message}${where}`;
}

/** An issue as `--format json` prints it: always with the code docs/errors.md documents. */
export function issueJson(issue: ConfigIssue & { code?: ErrorCode }): {
  code: ErrorCode;
  file: string;
  line: number;
  col: number;
  pointer: string;
  message: string;
} {
  return {
    code: issue.code ?? 'WARREN_E_CONFIG_INVALID',
    file: issue.file,
    line: issue.line,
    col: issue.col,
    pointer: issue.pointer,
    message: issue.message,
  };
}
