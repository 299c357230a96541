import { headerText } from '../amqp/headers.js';
import type { MessageSchema } from '../config/types.js';
import { type BodyCheck, describeBodyErrors, type SchemaSet } from './compile.js';

/** What the check reads of a message (a delivery has it all). */
export interface CheckedMessage {
  content: Buffer;
  properties: { contentEncoding?: string | undefined; type?: string | undefined };
  headers: Record<string, unknown>;
}

/** Why a message breaks its route's contract, and the schema it was checked against (if one was chosen). */
export interface Invalid {
  reason: string;
  schema?: string;
}

/** A route's contract, compiled: undefined when the message may go on, else why not. */
export type ContractCheck = (message: CheckedMessage) => Invalid | undefined;

/**
 * The longest reason: it carries parts of the body (a JSON.parse snippet, body keys in a pointer),
 * and a reason never shows more than 200 characters of a body, so none is longer.
 */
export const maxReasonChars = 200;
/** Most characters of a header or `type` value quoted in a reason: they are the sender's. */
const maxValueChars = 60;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Content encodings that still mean the bytes are the text itself. */
const plainEncodings = new Set(['', 'identity', 'utf-8', 'utf8']);

export function capReason(reason: string): string {
  return reason.length > maxReasonChars ? `${reason.slice(0, maxReasonChars - 1)}…` : reason;
}

/**
 * The body as JSON, or why it is not: a compressed body (content-encoding, or gzip's magic bytes)
 * is not JSON to Warren, which never decompresses it to look; neither is a body that is not UTF-8.
 */
export function parseBody(
  content: Buffer,
  contentEncoding: unknown,
): { value: unknown } | { reason: string } {
  const encoding = typeof contentEncoding === 'string' ? contentEncoding.trim().toLowerCase() : '';
  if (!plainEncodings.has(encoding)) {
    return {
      reason: `body is not JSON (content-encoding ${JSON.stringify(encoding.slice(0, maxValueChars))}: Warren does not decode a body to check it)`,
    };
  }
  if (content.length >= 2 && content[0] === 0x1f && content[1] === 0x8b) {
    return { reason: 'body is not JSON (it is gzip data: Warren does not decompress a body to check it)' };
  }
  if (content.length === 0) return { reason: 'body is not JSON (it is empty)' };
  let text: string;
  try {
    text = utf8.decode(content);
  } catch {
    return { reason: 'body is not JSON (it is not UTF-8 text)' };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    // V8's message quotes the start of the text: kept short, it still says what went wrong.
    const detail = err instanceof Error ? err.message.replace(/\s+/g, ' ') : String(err);
    return { reason: `body is not JSON (${detail.slice(0, 120)})` };
  }
}

/** A parsed body against one schema; a body nested too deep for the checker is invalid, not a bug. */
function checkValue(check: BodyCheck, value: unknown): string | undefined {
  try {
    const errors = check(value);
    return errors === undefined ? undefined : describeBodyErrors(errors);
  } catch (err) {
    if (err instanceof RangeError) return 'schema: body nests too deeply to check';
    throw err;
  }
}

function bodyCheck(set: SchemaSet, name: string): BodyCheck {
  const check = set.check(name);
  // The configuration was validated against this very directory: a missing name is a bug.
  if (!check) throw new Error(`schema ${name} is not in the compiled schemas directory`);
  return check;
}

/** One schema: the body parsed and checked. */
function checkAgainst(check: BodyCheck, name: string): ContractCheck {
  return (message) => {
    const parsed = parseBody(message.content, message.properties.contentEncoding);
    const reason = 'reason' in parsed ? `schema: ${parsed.reason}` : checkValue(check, parsed.value);
    return reason === undefined ? undefined : { reason: capReason(reason), schema: name };
  };
}

/** A route's `schema:` compiled against the set: every schema it names is looked up once, here. */
export function compileContract(spec: MessageSchema, set: SchemaSet): ContractCheck {
  if ('name' in spec) return checkAgainst(bodyCheck(set, spec.name), spec.name);
  const { by, map, otherwise } = spec.choose;
  // A Map, not the object: a value `__proto__` or `constructor` must find nothing.
  const checks = new Map(
    Object.entries(map).map(([value, name]) => [value, checkAgainst(bodyCheck(set, name), name)]),
  );
  const label = 'header' in by ? `header ${by.header}` : 'type';
  return (message) => {
    // Own headers only: a header named `constructor` or `toString` that the message lacks is absent.
    const raw =
      'header' in by
        ? Object.hasOwn(message.headers, by.header)
          ? message.headers[by.header]
          : undefined
        : message.properties.type;
    const value = raw === undefined || raw === null ? undefined : headerText(raw, 'scalars');
    const check = value === undefined ? undefined : checks.get(value);
    if (check) return check(message);
    if (otherwise === 'pass') return undefined;
    const absent = raw === undefined || raw === null;
    const why =
      value === undefined
        ? `${label} is ${absent ? 'absent' : 'not a string or number'}`
        : `${label} ${JSON.stringify(value.slice(0, maxValueChars))} is not in the map (${[...checks.keys()].map((k) => JSON.stringify(k)).join(', ')})`;
    return { reason: capReason(`schema: no schema for this message: ${why}`) };
  };
}
