import type { SchemaProblem } from './compile.js';

/** Keywords whose value is a schema, or an array of schemas. */
const schemaKeywords = new Set([
  'additionalItems',
  'additionalProperties',
  'allOf',
  'anyOf',
  'contains',
  'else',
  'if',
  'items',
  'not',
  'oneOf',
  'prefixItems',
  'propertyNames',
  'then',
  'unevaluatedItems',
  'unevaluatedProperties',
]);
/** Keywords whose value maps names (properties, definitions) to schemas. */
const schemaMapKeywords = new Set([
  '$defs',
  'definitions',
  'dependencies',
  'dependentSchemas',
  'patternProperties',
  'properties',
]);

/**
 * The first `format` in a schema that the checker does not know. ajv, like the specification,
 * ignores one; but Warren checks formats, so a misspelt `datetime` would silently check nothing of
 * a contract the operator believes enforced. Only schema positions are walked: a property named
 * `format`, or a `format` inside `enum`, `const` or an `x-` annotation, is not the keyword.
 */
export function unknownFormat(
  file: string,
  schema: unknown,
  known: (name: string) => boolean,
): SchemaProblem | undefined {
  const stack: Array<{ node: unknown; pointer: string }> = [{ node: schema, pointer: '' }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node, pointer } = item;
    if (Array.isArray(node)) {
      for (const [i, sub] of node.entries()) stack.push({ node: sub, pointer: `${pointer}/${i}` });
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    const format = (node as { format?: unknown }).format;
    if (typeof format === 'string' && !known(format)) {
      return {
        file,
        pointer: `${pointer}/format`,
        message: `unknown format ${JSON.stringify(format.slice(0, 60))}: it would check nothing (known: date-time, date, time, email, uri, uuid, ipv4, …)`,
      };
    }
    for (const [key, value] of Object.entries(node)) {
      const at = `${pointer}/${escapeKey(key)}`;
      if (schemaKeywords.has(key)) stack.push({ node: value, pointer: at });
      else if (schemaMapKeywords.has(key) && typeof value === 'object' && value !== null) {
        for (const [name, sub] of Object.entries(value))
          stack.push({ node: sub, pointer: `${at}/${escapeKey(name)}` });
      }
    }
  }
  return undefined;
}

function escapeKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
