import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import type { RawDoc } from './documents.js';

/**
 * Each map's keys, indexed the first time a position inside it is asked for: looking up the
 * place of every entry of a 40,000-entry map is then linear, not 40,000 scans of it.
 */
const keyIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function pairOf(map: YAMLMap, key: string): Pair | undefined {
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items) {
      if (isScalar(pair.key)) {
        const name = String(pair.key.value);
        if (!index.has(name)) index.set(name, pair);
      }
    }
    keyIndexes.set(map, index);
  }
  return index.get(key);
}

export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Line and column (1-based) of what a JSON pointer names: the value, or with `atKey` the key of
 * the last segment. A pointer that leaves the document's nodes (a default, a path through an
 * alias into a scalar) gives the deepest node it reached.
 */
export function positionOf(raw: RawDoc, pointer: string, atKey: boolean): { line: number; col: number } {
  const path = pointerSegments(pointer);
  let node: Node | null = (raw.doc.contents as Node | null) ?? null;
  let at: Node | null = node;
  for (let i = 0; i < path.length && node; i++) {
    if (isAlias(node)) node = raw.aliases.get(node) ?? null;
    const segment = path[i]!;
    let next: Node | null = null;
    let key: Node | null = null;
    if (isMap(node)) {
      const pair = pairOf(node, segment);
      key = (pair?.key as Node | null | undefined) ?? null;
      next = (pair?.value as Node | null | undefined) ?? null;
      if (pair && !next) next = key;
    } else if (isSeq(node) && /^\d+$/.test(segment)) {
      next = (node.items[Number(segment)] as Node | null | undefined) ?? null;
    }
    if (!next) break;
    at = atKey && i === path.length - 1 && key ? key : next;
    node = next;
  }
  const pos = raw.lineCounter.linePos(at?.range?.[0] ?? 0);
  return { line: Math.max(1, pos.line), col: Math.max(1, pos.col) };
}
