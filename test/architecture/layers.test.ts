import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  importGraph,
  importsOf,
  layerTable,
  layerViolations,
  orderProblems,
  sourceFiles,
  stageOf,
} from './graph.js';

const root = 'src';
const stages = layerTable(readFileSync('docs/architecture.md', 'utf8'));

describe('the layer rule of docs/architecture.md', () => {
  it('holds for every value import in src/', () => {
    expect(layerViolations(importGraph(root), stages)).toEqual([]);
  });

  it('lists each stage after every stage it may import, so the flow reads one way', () => {
    expect(orderProblems(stages)).toEqual([]);
  });

  it('puts every file of src/ in a stage, and names no member that does not exist', () => {
    const files = sourceFiles(root);
    expect(files.filter((f) => !stageOf(f, stages))).toEqual([]);
    const members = stages.flatMap((s) => s.members);
    expect(members.filter((m) => !files.some((f) => f === m || f.startsWith(m)))).toEqual([]);
  });

  it('finds a value import the table does not allow, with file and line, and lets a type import pass', () => {
    const text = [
      "import type { Report } from '../runtime/report.js';",
      "import { type Config, defaults } from '../config/types.js';",
      "import { applyReload } from '../runtime/apply.js';",
    ].join('\n');
    const table = [
      { name: 'config/', members: ['config/'], may: [] },
      { name: 'topology/', members: ['topology/'], may: ['config/'] },
      { name: 'runtime/', members: ['runtime/'], may: ['config/', 'topology/'] },
    ];
    expect(layerViolations(importsOf('topology/plan.ts', text), table)).toEqual([
      'topology/plan.ts:3 imports runtime/apply.ts: `topology/` may not import `runtime/`',
    ]);
  });

  it('finds a table whose order runs backwards', () => {
    const table = [
      { name: 'config/', members: ['config/'], may: ['runtime/'] },
      { name: 'runtime/', members: ['runtime/'], may: ['config/'] },
    ];
    expect(orderProblems(table)).toEqual(['`config/` may import `runtime/`, listed after it']);
  });
});

describe('the shape of src/', () => {
  it('keeps every source file within 350 lines', () => {
    const long = sourceFiles(root)
      .map((file) => ({ file, lines: readFileSync(`${root}/${file}`, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > 350);
    expect(long).toEqual([]);
  });

  it('has no loose modules at the top but the shared leaves', () => {
    expect(sourceFiles(root).filter((f) => !f.includes('/'))).toEqual(['deadlines.ts', 'errors.ts']);
  });
});
