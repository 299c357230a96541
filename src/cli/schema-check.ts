import { basename, join } from 'node:path';
import { type ConfigIssue, formatIssue } from '../config/issues.js';
import { readRegularFile } from '../config/read.js';
import { missingRefOf, positionedProblem } from '../config/schema-positions.js';
import {
  type CompatReport,
  compareSchemas,
  distinctExamples,
  type Example,
  parseExamples,
  type VerdictList,
} from '../contracts/compat.js';
import { type BodyCheck, describeBodyErrors, type SchemaFile, SchemaSet } from '../contracts/compile.js';
import { isExamplesFile, maxSchemaFileBytes, readSchemaDirectory } from '../contracts/files.js';
import { type Output, processOutput } from './output.js';
import { locateSchema } from './schema-root.js';

export const schemaCheckUsage = `Usage: warren schema check OLD NEW [--examples FILE]... [--format text|json]
  OLD, NEW    schema files (*.json), each compiled with the schema files of its own directory
  --examples  example messages (a JSON array of bodies); default OLD's and NEW's NAME.examples.json
  exit 0: NEW accepts every example OLD accepts; 1: a breaking change; 2: nothing could be compared
`;

export interface SchemaCheckSettings {
  format: 'text' | 'json';
  /** `--examples FILE`, as given: when any, the only example files read. */
  examples: readonly string[];
}

type Located = Awaited<ReturnType<typeof locateSchema>>;

/** One side of the comparison: the schema file as typed, and its check (or why there is none). */
type Side = { path: string; check: BodyCheck } | { path: string; issues: ConfigIssue[] };

/** A directory read and compiled once, however many of the arguments live in it. */
interface CompiledDirectory {
  files: Map<string, string>;
  read: Awaited<ReturnType<typeof readSchemaDirectory>>;
  compiled: ReturnType<typeof SchemaSet.compile>;
}

/**
 * `warren schema check OLD NEW`: every example message OLD accepts must be accepted by NEW. 0 when
 * it is, 1 with each example NEW rejects (file, index, pointer and message, at most 200 characters
 * of the example), 2 when nothing can be compared: a usage error, a schema or examples file that
 * cannot be read or does not compile (file:line:col), or no example OLD accepts.
 */
export async function schemaCheckCommand(
  settings: SchemaCheckSettings,
  args: readonly string[],
  out: Output = processOutput,
): Promise<number> {
  const usage = usageProblem(args);
  if (usage) {
    out.stderr(`warren: schema check: ${usage}\n\n${schemaCheckUsage}`);
    return 2;
  }
  const [oldPath, newPath] = args as [string, string];
  const directories = new Map<string, Promise<CompiledDirectory>>();
  const located = await Promise.all([oldPath, newPath].map(locateSchema));
  const [oldSide, newSide] = await Promise.all(located.map((at, i) => side(args[i]!, at, directories)));
  const examples = await readExamples(settings.examples, located, directories);
  // OLD and NEW in one directory may share a broken file: each issue is shown once.
  const issues = [
    ...new Map(
      [oldSide!, newSide!, examples]
        .flatMap((s) => ('issues' in s ? s.issues : []))
        .map((issue) => [formatIssue(issue), issue]),
    ).values(),
  ];
  if (issues.length > 0 || !('check' in oldSide!) || !('check' in newSide!) || !('examples' in examples))
    return printIssues(out, settings.format, oldPath, newPath, issues);
  const report = compareSchemas(oldSide.check, newSide.check, examples.examples);
  if (settings.format === 'json')
    out.stdout(`${JSON.stringify(reportJson(report, oldPath, newPath), null, 2)}\n`);
  else printReport(out, report, oldPath, newPath);
  return report.verdict === 'compatible' ? 0 : report.verdict === 'breaking' ? 1 : 2;
}

function usageProblem(args: readonly string[]): string | undefined {
  if (args.length !== 2)
    return `takes two schema files, OLD and NEW (got ${args.length} argument${args.length === 1 ? '' : 's'})`;
  const wrong = args.find((path) => !path.endsWith('.json') || isExamplesFile(path));
  if (wrong !== undefined)
    return `${JSON.stringify(wrong)} is not a schema file: schema files are *.json (and *.examples.json hold examples)`;
  return undefined;
}

function compiledDirectory(dir: string, directories: Map<string, Promise<CompiledDirectory>>) {
  let found = directories.get(dir);
  if (!found) {
    found = readSchemaDirectory(dir).then((read) => ({
      read,
      files: new Map(read.files.map((f) => [f.name, f.text])),
      compiled: SchemaSet.compile(read.files),
    }));
    directories.set(dir, found);
  }
  return found;
}

/**
 * The schema at `path`, compiled with every schema file of its directory `at.dir` (so its `$ref`s
 * to them resolve). When it does not compile, its own problems are shown, and those of the files its
 * dangling `$ref`s name (a file left out for its own syntax error is the cause). The other files'
 * problems are `warren validate`'s business.
 */
async function side(
  path: string,
  { dir, name }: Located,
  directories: Map<string, Promise<CompiledDirectory>>,
): Promise<Side> {
  const { read, files, compiled } = await compiledDirectory(dir, directories);
  const check = compiled.set.check(name);
  if (check) return { path, check };
  const problems = [...read.problems, ...compiled.problems];
  const own = problems.filter((p) => p.file === name);
  if (own.length === 0) {
    // Not in the directory's list at all: say why in the reader's words (missing, a directory, …).
    const got = await readRegularFile(path, { maxBytes: maxSchemaFileBytes });
    const message = 'error' in got ? `schema file ${got.error}` : 'schema file not found';
    return { path, issues: [{ file: path, line: 1, col: 1, pointer: '', message }] };
  }
  const referenced = new Set(own.map((p) => missingRefOf(p)?.replace(/#.*$/, '')));
  return {
    path,
    issues: problems
      .filter((p) => p.file === name || referenced.has(p.file))
      .map((p) => positionedProblem(join(dir, p.file), files.get(p.file), p)),
  };
}

/**
 * The example messages: the `--examples` files when given, else `NAME.examples.json` next to OLD
 * and next to NEW where there is one. A file given but missing, unreadable or malformed is an issue.
 */
async function readExamples(
  given: readonly string[],
  schemas: readonly Located[],
  directories: Map<string, Promise<CompiledDirectory>>,
): Promise<{ examples: Example[] } | { issues: ConfigIssue[] }> {
  const files: Array<SchemaFile | ConfigIssue> = [];
  if (given.length > 0) {
    for (const path of given) {
      const got = await readRegularFile(path, { maxBytes: maxSchemaFileBytes });
      files.push(
        'error' in got
          ? { file: path, line: 1, col: 1, pointer: '', message: `examples file ${got.error}` }
          : { name: path, text: got.text },
      );
    }
  } else {
    const distinct = new Map(schemas.map(({ dir, name }) => [join(dir, name), { dir, name }]));
    for (const { dir, name: schemaName } of distinct.values()) {
      const name = schemaName.replace(/\.json$/, '.examples.json');
      const { read } = await compiledDirectory(dir, directories);
      const path = join(dir, name);
      const found = read.examples.find((f) => f.name === name);
      const problem = read.problems.find((p) => p.file === name);
      if (found) files.push({ name: path, text: found.text });
      else if (problem) {
        // The directory reader words it for schema files.
        const message = problem.message.replace(/^schema file /, 'examples file ');
        files.push({ file: path, line: 1, col: 1, pointer: '', message });
      }
    }
  }
  const issues: ConfigIssue[] = [];
  const lists: Example[][] = [];
  for (const file of files) {
    if (!('text' in file)) {
      issues.push(file);
      continue;
    }
    const parsed = parseExamples(file);
    if ('problem' in parsed) issues.push(positionedProblem(file.name, file.text, parsed.problem));
    else lists.push(parsed.examples);
  }
  return issues.length > 0 ? { issues } : { examples: distinctExamples(lists) };
}

function printIssues(
  out: Output,
  format: 'text' | 'json',
  oldPath: string,
  newPath: string,
  issues: readonly ConfigIssue[],
): number {
  if (format === 'json') {
    out.stdout(`${JSON.stringify({ compatible: null, old: oldPath, new: newPath, issues }, null, 2)}\n`);
  } else {
    // A syntax error's message quotes the file around it, line breaks and all.
    for (const issue of issues) out.stderr(`${oneLine(formatIssue(issue))}\n`);
    out.stderr(`warren: schema check: ${issues.length} error(s); nothing compared\n`);
  }
  return 2;
}

function reportJson(report: CompatReport, oldPath: string, newPath: string) {
  return {
    compatible: report.verdict === 'unproven' ? null : report.verdict === 'compatible',
    old: oldPath,
    new: newPath,
    examples: report.examples,
    acceptedByOld: report.acceptedByOld,
    breaking: report.breaking,
    rejectedByOld: report.rejectedByOld,
    issues: [],
    ...(report.verdict === 'unproven' ? { reason: unprovenReason(report, oldPath) } : {}),
  };
}

function unprovenReason(report: CompatReport, oldPath: string): string {
  const examplesName = basename(oldPath).replace(/\.json$/, '.examples.json');
  return report.examples === 0
    ? `no example messages: write a JSON array of message bodies to ${examplesName} next to the schema, or pass --examples FILE`
    : `${oldPath} rejects all ${plural(report.examples)}: nothing shows what it accepted`;
}

function printReport(out: Output, report: CompatReport, oldPath: string, newPath: string): void {
  printList(out, '✗', report.breaking, `rejected by ${newPath}`);
  printList(
    out,
    '!',
    report.rejectedByOld,
    `rejected by ${oldPath} too (out of date, not a breaking change)`,
  );
  const { breaking, acceptedByOld } = report;
  if (report.verdict === 'breaking')
    out.stdout(
      `breaking: ${newPath} rejects ${breaking.count} of the ${plural(acceptedByOld)} ${oldPath} accepts\n`,
    );
  else if (report.verdict === 'compatible')
    out.stdout(`compatible: ${newPath} accepts all ${plural(acceptedByOld)} ${oldPath} accepts\n`);
  else out.stderr(`warren: schema check: ${unprovenReason(report, oldPath)}\n`);
}

function plural(n: number): string {
  return n === 1 ? '1 example' : `${n} examples`;
}

/** Each example on one line with the reason (as a dead letter's `x-warren-error` words it), then its excerpt. */
function printList(out: Output, mark: string, list: VerdictList, what: string): void {
  for (const v of list.listed) {
    out.stdout(
      `${mark} ${v.file}[${v.index}] ${what}: ${oneLine(describeBodyErrors(v.errors))}\n    ${v.excerpt}\n`,
    );
  }
  if (list.count > list.listed.length) out.stdout(`${mark} … and ${list.count - list.listed.length} more\n`);
}

/** A pointer holds the example's keys: a control character in one must not break the line or the terminal. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}
