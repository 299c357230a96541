import { Ajv, type ErrorObject } from 'ajv';
import type { RawDoc } from '../config/documents.js';
import { type ConfigIssue, distinctIssues, escapePointer } from '../config/issues.js';
import { pointerSegments } from '../config/positions.js';
import { suggest } from '../config/suggest.js';
import { type TestDocument, testFileSchema } from './schema.js';

/** `errorMessage` in the schema: one message, or one per keyword (`required` per missing key). */
type ErrorMessage = string | { [keyword: string]: string | Record<string, string> | undefined };

interface Annotated {
  title?: string;
  errorMessage?: ErrorMessage;
  properties?: Record<string, unknown>;
}

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true });
// Annotations only: read by `describe` below, never a rule of their own.
ajv.addKeyword({ keyword: 'errorMessage', schemaType: ['string', 'object'] });
const validateDocument = ajv.compile<TestDocument>(testFileSchema);

/** The document's schema problems, each at `file:line:col` of the value or key it is about. */
export function schemaIssues(raw: RawDoc, data: unknown): ConfigIssue[] {
  if (validateDocument(data)) return [];
  return distinctIssues(raw, (validateDocument.errors ?? []).map(describe));
}

function describe(error: ErrorObject): { pointer: string; message: string; atKey: boolean } {
  const path = error.instancePath;
  const schema = (error.parentSchema ?? {}) as Annotated;
  const params = error.params as Record<string, unknown>;
  const own = schema.errorMessage;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(schema.properties ?? {});
      const hint = suggest(key, known);
      return {
        pointer: `${path}/${escapePointer(key)}`,
        message: `unknown key \`${key}\` in ${schema.title}${hint ? ` (did you mean \`${hint}\`?)` : ''}; known: ${known.join(', ')}`,
        atKey: true,
      };
    }
    case 'maxProperties': {
      // Only `expect` sets a most (one key): the second key given is the one too many.
      const [first, second] = Object.keys(error.data as object);
      return {
        pointer: `${path}/${escapePointer(second ?? '')}`,
        message: `${schema.title} has both \`${first}\` and \`${second}\`: give exactly one`,
        atKey: true,
      };
    }
    case 'required': {
      const key = String(params.missingProperty);
      const given = typeof own === 'object' ? own.required : undefined;
      const message = (typeof given === 'object' ? given[key] : undefined) ?? `\`${key}\` is required`;
      return { pointer: path, message, atKey: false };
    }
    default: {
      const given = typeof own === 'object' ? own[error.keyword] : own;
      const key = pointerSegments(path).at(-1) ?? '';
      const message =
        typeof given === 'string' ? given.replaceAll('{key}', key) : `${error.message ?? 'invalid'}`;
      // "`cases` is empty" is about the key it names, not about the brackets after it.
      return { pointer: path, message, atKey: error.keyword === 'minItems' };
    }
  }
}
