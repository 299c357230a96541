import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/** One import of one source file: `from` and `to` are paths under `src/`, e.g. `runtime/apply.ts`. */
export interface ImportEdge {
  from: string;
  to: string;
  line: number;
  /** `import type` / `export type`, or every name marked `type`: erased by the compiler. */
  typeOnly: boolean;
}

/** One row of the layer table: the files and folders of a stage, and the stages it may import. */
export interface Stage {
  name: string;
  members: string[];
  may: string[];
}

/** Every `.ts` file under `dir`, as paths relative to it with `/` separators. */
export function sourceFiles(dir: string, sub = ''): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
    const path = sub ? `${sub}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...sourceFiles(dir, path));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files.sort();
}

// Static imports and re-exports of relative specifiers, and dynamic import(); package imports are
// not stages. The names between `import` and `from` tell a type-only import from a value import.
const staticImport = /^(?:import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*'(\.{1,2}\/[^']+)'/gm;
const dynamicImport = /\bimport\s*\(\s*'(\.{1,2}\/[^']+)'/g;

function typeOnlyNames(names: string): boolean {
  const braces = /^\{([^}]*)\}$/.exec(names.trim());
  if (!braces) return false;
  const list = braces[1]!
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return list.length > 0 && list.every((n) => n.startsWith('type '));
}

/** The relative imports of one file's text, resolved to paths under the source root. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const at = (index: number): number => text.slice(0, index).split('\n').length;
  const to = (spec: string): string =>
    posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
  const edges: ImportEdge[] = [];
  for (const m of text.matchAll(staticImport)) {
    edges.push({ from: file, to: to(m[3]!), line: at(m.index), typeOnly: !!m[1] || typeOnlyNames(m[2]!) });
  }
  for (const m of text.matchAll(dynamicImport)) {
    edges.push({ from: file, to: to(m[1]!), line: at(m.index), typeOnly: false });
  }
  return edges;
}

/** The import graph of a source tree. */
export function importGraph(root: string): ImportEdge[] {
  return sourceFiles(root).flatMap((file) => importsOf(file, readFileSync(join(root, file), 'utf8')));
}

/**
 * The stages of the table between the layer markers of a document, in its order. A row's first cell
 * names its members — folders (`runtime/`) or single files (`config/types.ts`) —, the second the
 * stages it may import, by any of their members.
 */
export function layerTable(markdown: string): Stage[] {
  const block = /<!-- layers:begin -->([\s\S]*?)<!-- layers:end -->/.exec(markdown)?.[1];
  if (!block) throw new Error('no <!-- layers:begin --> … <!-- layers:end --> table');
  const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const stages: Stage[] = [];
  for (const row of block.split('\n')) {
    const cells = row.split('|').slice(1, -1);
    const members = cells.length === 3 ? names(cells[0]!) : [];
    if (members.length === 0) continue;
    stages.push({ name: members.join(', '), members, may: names(cells[2]!) });
  }
  return stages;
}

/** The stage a path belongs to: the row naming the file itself, else the row naming its folder. */
export function stageOf(path: string, stages: readonly Stage[]): Stage | undefined {
  const folder = path.includes('/') ? path.slice(0, path.indexOf('/') + 1) : path;
  return stages.find((s) => s.members.includes(path)) ?? stages.find((s) => s.members.includes(folder));
}

/** The stage a name of a "may import" cell means. */
function stageNamed(name: string, stages: readonly Stage[]): Stage | undefined {
  return stages.find((s) => s.members.includes(name));
}

/** Value imports the table does not allow; type-only imports are free (see docs/architecture.md). */
export function layerViolations(edges: readonly ImportEdge[], stages: readonly Stage[]): string[] {
  const problems = new Set<string>();
  for (const e of edges) {
    const from = stageOf(e.from, stages);
    const to = stageOf(e.to, stages);
    if (!from) problems.add(`${e.from}: in no stage of the layer table`);
    else if (!to)
      problems.add(`${e.from}:${e.line} imports ${e.to}, which is in no stage of the layer table`);
    else if (from === to || e.typeOnly) continue;
    else if (!from.may.some((name) => stageNamed(name, stages) === to)) {
      problems.add(`${e.from}:${e.line} imports ${e.to}: \`${from.name}\` may not import \`${to.name}\``);
    }
  }
  return [...problems];
}

/** "May import" entries that name no stage, or a stage at or below their own row: the table's order. */
export function orderProblems(stages: readonly Stage[]): string[] {
  return stages.flatMap((stage, i) =>
    stage.may.flatMap((name) => {
      const target = stageNamed(name, stages);
      if (!target) return [`\`${stage.name}\` may import \`${name}\`, which is no stage`];
      return stages.indexOf(target) >= i ? [`\`${stage.name}\` may import \`${name}\`, listed after it`] : [];
    }),
  );
}
