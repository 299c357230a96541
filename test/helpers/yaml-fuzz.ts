import fc from 'fast-check';

/** A generated YAML node: a scalar as written, a map, a sequence, or an anchored node. */
export type YamlTree =
  | string
  | { map: Array<[string, YamlTree]> }
  | { seq: YamlTree[] }
  | { anchor: string; tree: YamlTree };

/** YAML trees of `scalar` leaves and `key` map keys, with anchors `a`, `b` and `c` for aliases to hit. */
export function yamlTrees(scalar: fc.Arbitrary<string>, key: fc.Arbitrary<string>): fc.Arbitrary<YamlTree> {
  return fc.letrec<{ tree: YamlTree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar,
      fc.record({ map: fc.array(fc.tuple(key, tie('tree')), { maxLength: 5 }) }),
      fc.record({ seq: fc.array(tie('tree'), { maxLength: 4 }) }),
      fc.record({ anchor: fc.constantFrom('a', 'b', 'c'), tree: tie('tree') }),
    ),
  })).tree;
}

/** Block style for maps, flow style for sequences (and for maps inside them), never escaping anything. */
export function renderYaml(node: YamlTree, indent = 0, flow = false): string {
  const pad = ' '.repeat(indent);
  if (typeof node === 'string') return node;
  if ('anchor' in node) return `&${node.anchor} ${renderYaml(node.tree, indent, true)}`;
  if ('seq' in node) return `[${node.seq.map((n) => renderYaml(n, indent, true)).join(', ')}]`;
  if (flow || node.map.length === 0) {
    return `{ ${node.map.map(([k, v]) => `${k}: ${renderYaml(v, indent, true)}`).join(', ')} }`;
  }
  return node.map.map(([k, v]) => `\n${pad}${k}: ${renderYaml(v, indent + 2, false)}`).join('');
}

/** YAML's punctuation and indicators, the pieces an edit inserts to break a document in every way. */
export const yamlTokens: readonly string[] = [
  '\n',
  ': ',
  '- ',
  '  ',
  '\t',
  '{',
  '}',
  '[',
  ']',
  '&a ',
  '*a ',
  '*x',
  '---\n',
  '...\n',
  '"',
  "'",
  '#',
  '!',
  '%',
  '|',
];

/** One of `texts` with one to six edits at random places: each removes up to 6 characters and inserts one of `insert`. */
export function editedTexts(texts: readonly string[], insert: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 6 }), insert });
  return fc
    .tuple(fc.constantFrom(...texts), fc.array(edit, { minLength: 1, maxLength: 6 }))
    .map(([text, edits]) => {
      let out = text;
      for (const e of edits) {
        const at = e.at % (out.length + 1);
        out = out.slice(0, at) + e.insert + out.slice(at + e.remove);
      }
      return out;
    });
}

/**
 * Whole files for a reader to survive: generated documents, edited real files, deep nesting,
 * several documents in one file, and bytes that are not YAML at all.
 */
export function yamlFiles(
  document: fc.Arbitrary<string>,
  edited: fc.Arbitrary<string>,
  deep: fc.Arbitrary<string>,
): fc.Arbitrary<string> {
  return fc.oneof(
    document,
    edited,
    deep,
    fc.array(fc.oneof(document, edited), { minLength: 2, maxLength: 3 }).map((docs) => docs.join('\n---\n')),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
}
