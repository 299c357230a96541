import {
  type BodyCheck,
  type BodyError,
  jsonSyntaxProblem,
  type SchemaFile,
  type SchemaProblem,
} from './compile.js';

/**
 * `warren schema check`: would a new version of a schema reject messages the old one accepted?
 * Pure: the schemas arrive compiled, the examples as text; nothing here reads a file or prints.
 */

/** One example message: the file it came from, its index in that file's array, the body. */
export interface Example {
  file: string;
  index: number;
  body: unknown;
}

/** An example with why one of the schemas rejects it, as the report lists it. */
export interface ExampleVerdict {
  file: string;
  index: number;
  /** At most `maxExcerptChars` characters of the example as JSON: the example itself is never printed whole. */
  excerpt: string;
  errors: readonly BodyError[];
}

/** A list of verdicts: how many there are, and the first `maxListed` of them. */
export interface VerdictList {
  count: number;
  listed: ExampleVerdict[];
}

export interface CompatReport {
  /**
   * `breaking`: some example the old schema accepts, the new one rejects. `compatible`: the new
   * schema accepts every example the old one accepts, and there was at least one. `unproven`: no
   * example is accepted by the old schema, so the comparison shows nothing either way.
   */
  verdict: 'compatible' | 'breaking' | 'unproven';
  /** Distinct examples compared (an example in two files counts once). */
  examples: number;
  acceptedByOld: number;
  /** Accepted by the old schema, rejected by the new one: each is a breaking change. */
  breaking: VerdictList;
  /** Rejected by the old schema already: the example is out of date, not the new schema wrong. */
  rejectedByOld: VerdictList;
}

/** Most characters of an example that a report quotes (as for message bodies in dead-letter reasons). */
export const maxExcerptChars = 200;
/** Most verdicts a list holds: past that, a count is what a reader needs. */
export const maxListed = 100;
/** Examples nested deeper than this are refused: no message contract needs it, and printing one recurses. */
export const maxExampleDepth = 128;

/**
 * The examples of one file: a JSON array of message bodies. A file that is not JSON, not an array
 * or holds an example nested too deeply is a problem placed like a schema's (offset or pointer).
 */
export function parseExamples(file: SchemaFile): { examples: Example[] } | { problem: SchemaProblem } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(file.text);
  } catch (err) {
    return { problem: jsonSyntaxProblem(file.name, file.text, err as Error) };
  }
  if (!Array.isArray(parsed)) {
    return {
      problem: {
        file: file.name,
        pointer: '',
        message: 'an examples file is a JSON array of message bodies, e.g. [{"order": {…}}, …]',
      },
    };
  }
  const deep = parsed.findIndex((body) => nestedDeeperThan(body, maxExampleDepth));
  if (deep >= 0) {
    return {
      problem: {
        file: file.name,
        pointer: `/${deep}`,
        message: `example nested deeper than ${maxExampleDepth} levels`,
      },
    };
  }
  return { examples: parsed.map((body, index) => ({ file: file.name, index, body })) };
}

/** Without recursion, so that the check itself cannot overflow the stack it protects. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.depth >= limit) return true;
    for (const child of Object.values(item.value)) stack.push({ value: child, depth: item.depth + 1 });
  }
  return false;
}

/**
 * The examples of several files as one list, each distinct body once (under the first file and
 * index that hold it): OLD's and NEW's example files are often copies of each other.
 */
export function distinctExamples(lists: readonly (readonly Example[])[]): Example[] {
  const seen = new Set<string>();
  const out: Example[] = [];
  for (const example of lists.flat()) {
    const key = JSON.stringify(example.body);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(example);
  }
  return out;
}

/** Every example against both schemas: what the old one accepts and the new one rejects is breaking. */
export function compareSchemas(
  oldCheck: BodyCheck,
  newCheck: BodyCheck,
  examples: readonly Example[],
): CompatReport {
  const breaking: VerdictList = { count: 0, listed: [] };
  const rejectedByOld: VerdictList = { count: 0, listed: [] };
  let acceptedByOld = 0;
  for (const example of examples) {
    const oldErrors = oldCheck(example.body);
    if (oldErrors) {
      add(rejectedByOld, example, oldErrors);
      continue;
    }
    acceptedByOld++;
    const newErrors = newCheck(example.body);
    if (newErrors) add(breaking, example, newErrors);
  }
  const verdict = breaking.count > 0 ? 'breaking' : acceptedByOld === 0 ? 'unproven' : 'compatible';
  return { verdict, examples: examples.length, acceptedByOld, breaking, rejectedByOld };
}

function add(list: VerdictList, example: Example, errors: readonly BodyError[]): void {
  list.count++;
  if (list.listed.length < maxListed)
    list.listed.push({ file: example.file, index: example.index, excerpt: excerptOf(example.body), errors });
}

/** The example as JSON, cut to `maxExcerptChars` (never in the middle of a surrogate pair). */
export function excerptOf(body: unknown): string {
  const text = JSON.stringify(body);
  if (text.length <= maxExcerptChars) return text;
  let cut = text.slice(0, maxExcerptChars - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
