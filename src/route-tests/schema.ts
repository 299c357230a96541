import type { FromSchema } from 'json-schema-to-ts';

/**
 * The JSON Schema of one test-file document (docs/plugins.md, "Testing routes"). Besides the
 * standard keywords it carries the words of its issues, so that each message sits beside the rule
 * it explains (`issues.ts` reads them):
 * - `title`: what a map is, for "unknown key `x` in <title>";
 * - `errorMessage`: the message for any failure of the value itself, or one per keyword
 *   (`{ type, minProperties, required: { key: message } }`), in ajv-errors' shape (the plugin is not
 *   used); `{key}` stands for the name of the key the value is at. Without one, a missing key is
 *   "`key` is required".
 */

const methods = ['POST', 'PUT', 'PATCH'] as const;

/** A method in any case (`post` is POST): JSON Schema has no case-insensitive match. */
const methodPattern = `^(?:${methods.map((m) => [...m].map((c) => `[${c}${c.toLowerCase()}]`).join('')).join('|')})$`;

const text = (key: string) =>
  ({ type: 'string', errorMessage: `\`${key}\` must be a text (quote it)` }) as const;
const map = (what: string) => ({ type: 'object', errorMessage: `${what} must be a map` }) as const;
const list = (key: string) => ({ type: 'array', errorMessage: `\`${key}\` must be a list` }) as const;

/** A body: an object, array, number, boolean or null is JSON; a string is the exact text. */
const body = {} as const;

const request = {
  type: 'object',
  title: 'a webhook request',
  errorMessage: 'a webhook request must be a map',
  additionalProperties: false,
  properties: {
    url: text('url'),
    method: {
      type: 'string',
      pattern: methodPattern,
      errorMessage: {
        type: text('method').errorMessage,
        pattern: `\`method\` is one of ${methods.join(', ')}`,
      },
    },
    headers: {
      ...map('`headers`'),
      description: 'A subset of the request headers, names in any case; null: the header is absent.',
      additionalProperties: {
        type: ['string', 'number', 'boolean', 'null'],
        errorMessage: 'header `{key}` must be a text, a number or null',
      },
    },
    body,
  },
} as const;

const published = {
  type: 'object',
  title: 'a published message',
  errorMessage: 'a published message must be a map',
  additionalProperties: false,
  properties: {
    exchange: text('exchange'),
    routingKey: text('routingKey'),
    headers: { ...map('`headers`'), description: 'A subset; null: the header is absent.' },
    body,
  },
} as const;

/** `true` (any reason) or a non-empty text the reason contains. */
const anyReason = (key: string, reason: string) =>
  ({
    type: ['boolean', 'string'],
    not: { enum: [false, ''] },
    errorMessage: `\`${key}\` is true or a text the ${reason} reason contains`,
  }) as const;
const reason = (key: string) =>
  ({
    type: 'string',
    minLength: 1,
    errorMessage: `\`${key}\` is a text the ${key} reason contains`,
  }) as const;

/** The route's `schema:` refused the body: true, a text its reason contains, or the error's parts. */
const invalid = {
  type: ['boolean', 'string', 'object'],
  title: '`invalid`',
  not: { enum: [false, ''] },
  additionalProperties: false,
  minProperties: 1,
  properties: {
    pointer: text('pointer'),
    message: text('message'),
    schema: text('schema'),
  },
  errorMessage: {
    type: '`invalid` is true, a text the schema reason contains, or { pointer, message, schema }',
    not: '`invalid` is true, a text the schema reason contains, or { pointer, message, schema }',
    minProperties: '`invalid` needs pointer, message or schema',
  },
} as const;

/** Exactly one of these is a case's `expect`. */
const expectations = {
  webhook: { ...list('webhook'), items: request },
  publish: { ...list('publish'), items: published },
  drop: anyReason('drop', 'drop'),
  filtered: anyReason('filtered', 'filter'),
  deadLetter: reason('deadLetter'),
  retry: reason('retry'),
  invalid,
} as const;

const expectationKeys = Object.keys(expectations).join(', ');

const expectation = {
  type: 'object',
  title: '`expect`',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  errorMessage: {
    type: '`expect` must be a map',
    minProperties: `\`expect\` needs one of ${expectationKeys}`,
  },
  properties: expectations,
} as const;

const message = {
  type: 'object',
  title: '`message`',
  errorMessage: '`message` must be a map',
  additionalProperties: false,
  properties: {
    body,
    contentType: text('contentType'),
    headers: map('`headers`'),
    routingKey: text('routingKey'),
    exchange: text('exchange'),
    messageId: text('messageId'),
    type: text('type'),
    redelivered: { type: 'boolean', errorMessage: '`redelivered` must be true or false' },
    attempt: { type: 'integer', minimum: 1, errorMessage: '`attempt` must be an integer of at least 1' },
  },
} as const;

const testCase = {
  type: 'object',
  title: 'a case',
  additionalProperties: false,
  required: ['name', 'expect'],
  errorMessage: {
    type: 'a case must be a map',
    required: { expect: `a case needs \`expect\` with one of ${expectationKeys}` },
  },
  properties: { name: text('name'), message, expect: expectation },
} as const;

export const testFileSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'a test file',
  type: 'object',
  additionalProperties: false,
  required: ['route', 'cases'],
  errorMessage: {
    type: 'a test file must be a map',
    required: { cases: 'a test file needs `cases`: a list of cases' },
  },
  properties: {
    route: text('route'),
    cases: {
      ...list('cases'),
      minItems: 1,
      errorMessage: { type: list('cases').errorMessage, minItems: '`cases` is empty' },
      items: testCase,
    },
  },
} as const;

/** One document as the schema lets it through. */
export type TestDocument = FromSchema<typeof testFileSchema>;
