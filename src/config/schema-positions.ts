import { isScalar, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { type SchemaProblem, schemaBase } from '../contracts/compile.js';
import type { RawDoc } from './documents.js';
import type { ConfigIssue } from './issues.js';
import { positionOf } from './positions.js';

/**
 * A schema (or examples) file's problem at the line and column a reader goes to. JSON is YAML, so
 * the `yaml` parser that places route-file issues places these too: a syntax error at its offset
 * (or where the parser finds it), a problem inside the document by its JSON pointer, a `$ref` that resolves nowhere at that `$ref`.
 * `path` is how the file is shown; `text` is undefined when the file could not be read (1:1).
 */
export function positionedProblem(
  path: string,
  text: string | undefined,
  problem: SchemaProblem,
): ConfigIssue {
  const issue = { file: path, line: 1, col: 1, pointer: problem.pointer ?? '', message: problem.message };
  if (text === undefined || nestedDeeperThan(text, maxPlacedNesting)) return issue;
  const lineCounter = new LineCounter();
  try {
    if (problem.pointer === undefined) {
      // A JSON syntax error. V8 gives its offset for some ("at position 12") but not for an
      // unexpected token; the YAML parser in its JSON schema finds those (`[1,,2]`, `tru`).
      const doc = parseDocument(text, { lineCounter, uniqueKeys: false, schema: 'json' });
      const at =
        problem.offset !== undefined ? lineCounter.linePos(problem.offset) : doc.errors[0]?.linePos?.[0];
      return at ? { ...issue, line: at.line, col: at.col } : issue;
    }
    const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
    const ref = problem.pointer === '' ? missingRefNode(doc.contents as Node | null, problem) : undefined;
    if (ref?.range) {
      const pos = lineCounter.linePos(ref.range[0]);
      return { ...issue, line: pos.line, col: pos.col };
    }
    const raw: RawDoc = { file: path, doc, lineCounter, aliases: new Map() };
    return { ...issue, ...positionOf(raw, problem.pointer, false) };
  } catch {
    // A document the YAML parser cannot walk (nested past its stack): the whole file, at 1:1.
    return issue;
  }
}

/**
 * Deeper documents are not handed to the YAML parser: it recurses per level, and a stack overflow
 * while V8 compiles one of its regular expressions ends the process instead of throwing. No schema
 * needs this many levels; such a file's problem is shown at 1:1.
 */
const maxPlacedNesting = 256;

/** Brackets outside strings, counted in one pass without parsing. */
function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * The reference of a "$ref "x" resolves to no schema" problem, as `SchemaSet.compile` words it:
 * relative to the directory when it points into it (`common/money.json#/$defs/x`).
 */
export function missingRefOf(problem: SchemaProblem): string | undefined {
  const quoted = /^\$ref ("(?:[^"\\]|\\.)*")/.exec(problem.message)?.[1];
  return quoted === undefined ? undefined : (JSON.parse(quoted) as string);
}

/**
 * The `$ref` value node a "$ref "x" resolves to no schema" problem is about: the first `$ref` in
 * the file that resolves, against the file's own URI, to the missing one.
 */
function missingRefNode(contents: Node | null, problem: SchemaProblem): Node | undefined {
  const shown = missingRefOf(problem);
  if (shown === undefined || !contents) return undefined;
  const missing = /^[a-z][a-z0-9+.-]*:/i.test(shown) ? shown : schemaBase + shown;
  let found: Node | undefined;
  visit(contents, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== '$ref' || !isScalar(pair.value)) return undefined;
      const value = pair.value.value;
      if (typeof value === 'string' && resolves(value, problem.file, missing)) {
        found = pair.value;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function resolves(ref: string, file: string, missing: string): boolean {
  try {
    const url = new URL(ref, schemaBase + file);
    url.hash = '';
    return url.href === missing.replace(/#.*$/, '');
  } catch {
    return false;
  }
}
