import type { Ajv, ErrorObject } from 'ajv';
import type { DataValidateFunction, DataValidationCxt } from 'ajv/dist/types/index.js';
import { type DurationRange, formatRange, isDuration, parseDuration } from './duration.js';

/**
 * The schema keywords Warren adds to JSON Schema for what the broker or the runtime would refuse
 * later and JSON Schema cannot say: a range on a duration string, a name's length in UTF-8 bytes,
 * a URL undici can reach, an HTTP header. Editors ignore them; `warren validate` and every load
 * apply them. Messages name the rule, never the value (a value may be an interpolated secret).
 */

/** AMQP short strings (queue, exchange and field names, routing keys) hold at most 255 bytes. */
export const MAX_NAME_BYTES = 255;

/**
 * - `declared`: a queue or exchange Warren declares: not `amq.*` (RabbitMQ reserves the prefix).
 * - `reference`: an entity only read from or published to (a binding's source, a republish
 *   target, an alternate exchange): the built-in `amq.*` exchanges are fine.
 * - `route`: a route's name (logs, metrics, the admin API, `warren dlq`).
 * - `field`: a key of an AMQP table (x-arguments, headers): only the byte limit.
 */
export type NameKind = 'declared' | 'reference' | 'route' | 'field';

export function nameProblem(name: string, kind: NameKind): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    return `is ${bytes} bytes long in UTF-8; RabbitMQ allows at most ${MAX_NAME_BYTES}`;
  }
  if (kind === 'field') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  const control = /[\u0000-\u001f\u007f]/.exec(name);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return `contains the control character U+${code}; names must not`;
  }
  // A URL parser turns the path segment `.` or `..` into a step, whatever its escaping (`%2e%2e`):
  // `/api/routes/../pause` is `/api/pause`, so such a route could not be paused, shown or redriven.
  if (kind === 'route' && (name === '.' || name === '..')) {
    return 'cannot be `.` or `..`: the admin API and the status page name a route in a URL path, where these are steps, not names';
  }
  if (kind === 'declared' && name.startsWith('amq.')) {
    return 'starts with `amq.`, which RabbitMQ reserves: declaring it is refused (binding from, or republishing to, a built-in amq.* exchange is fine)';
  }
  return undefined;
}

/** Characters of an HTTP token (RFC 9110 §5.6.2): what a header name may be made of. */
const httpToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What undici accepts in a header value: no CR, LF, NUL or other controls but tab, Latin-1 only. */
const headerValueRefused = /[^\t\u0020-\u007e\u0080-\u00ff]/;

export function headerNameProblem(name: string): string | undefined {
  return httpToken.test(name)
    ? undefined
    : "is not an HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only";
}

export function headerValueProblem(value: string): string | undefined {
  const bad = headerValueRefused.exec(value);
  if (!bad) return undefined;
  const code = bad[0].codePointAt(0) ?? 0;
  return code === 0x0d || code === 0x0a
    ? 'contains a line break (CR or LF), which an HTTP header value cannot carry'
    : code < 0x20 || code === 0x7f
      ? 'contains a control character, which an HTTP header value cannot carry'
      : 'contains a character beyond Latin-1, which an HTTP header value cannot carry (percent-encode it)';
}

/** An http(s) URL undici can send to: it parses, names a host, and its port is 1-65535. */
export function httpUrlProblem(url: string): string | undefined {
  const authority = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(url);
  if (!authority || !/^https?$/i.test(authority[1]!)) {
    return 'must be an absolute http:// or https:// URL';
  }
  const hostPort = authority[2]!.slice(authority[2]!.lastIndexOf('@') + 1);
  const port = /^(?:\[[^\]]*\]|[^:]*):(\d*)$/.exec(hostPort)?.[1];
  const host = hostPort.replace(/:\d*$/, '');
  if (host === '') return 'names no host: write http://host[:port]/path';
  if (port !== undefined && port !== '' && (Number(port) < 1 || Number(port) > 65_535)) {
    return `has port ${port}; a port is 1 to 65535`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'has credentials with a broken %-escape';
  }
  return undefined;
}

function refuse(fn: DataValidateFunction, errors: Array<Partial<ErrorObject>>): false {
  fn.errors = errors;
  return false;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const durationRange: DataValidateFunction = function durationRange(range: DurationRange, data: unknown) {
  if (!isDuration(data)) return true; // the shape is the anyOf's to report
  const ms = parseDuration(data as string | number);
  if (ms >= range.minMs && ms <= range.maxMs) return true;
  return refuse(durationRange, [
    { keyword: 'durationRange', message: `must be from ${formatRange(range)}`, params: range },
  ]);
};

const amqpName: DataValidateFunction = function amqpName(kind: NameKind, data: unknown) {
  const problem = typeof data === 'string' ? nameProblem(data, kind) : undefined;
  if (!problem) return true;
  return refuse(amqpName, [{ keyword: 'amqpName', message: `name ${problem}`, params: { kind } }]);
};

/** The keys of a map are names: each problem is reported at its key. */
const amqpKeys: DataValidateFunction = function amqpKeys(
  kind: NameKind,
  data: unknown,
  _parent?: unknown,
  cxt?: DataValidationCxt,
) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return true;
  const errors: Array<Partial<ErrorObject>> = [];
  for (const key of Object.keys(data)) {
    const problem = key === '' && kind !== 'field' ? 'is empty' : nameProblem(key, kind);
    if (!problem) continue;
    errors.push({
      keyword: 'amqpKeys',
      instancePath: `${cxt?.instancePath ?? ''}/${escapePointer(key)}`,
      message: `name ${problem}`,
      params: { kind, atKey: true },
    });
  }
  return errors.length === 0 || refuse(amqpKeys, errors);
};

const httpUrl: DataValidateFunction = function httpUrl(_on: boolean, data: unknown) {
  const problem = typeof data === 'string' ? httpUrlProblem(data) : undefined;
  return problem === undefined || refuse(httpUrl, [{ keyword: 'httpUrl', message: problem, params: {} }]);
};

/** A header map: names are tokens, values carry no line break. */
const httpHeaders: DataValidateFunction = function httpHeaders(
  _on: boolean,
  data: unknown,
  _parent?: unknown,
  cxt?: DataValidationCxt,
) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return true;
  const errors: Array<Partial<ErrorObject>> = [];
  for (const [name, value] of Object.entries(data)) {
    const at = `${cxt?.instancePath ?? ''}/${escapePointer(name)}`;
    const nameIssue = headerNameProblem(name);
    if (nameIssue) {
      errors.push({
        keyword: 'httpHeaders',
        instancePath: at,
        message: `header ${nameIssue}`,
        params: { atKey: true },
      });
    }
    const valueIssue = typeof value === 'string' ? headerValueProblem(value) : undefined;
    if (valueIssue) {
      errors.push({
        keyword: 'httpHeaders',
        instancePath: at,
        message: `header value ${valueIssue}`,
        params: {},
      });
    }
  }
  return errors.length === 0 || refuse(httpHeaders, errors);
};

/** Warren's keywords, added to the validator of route files. */
export function addWarrenKeywords(ajv: Ajv): Ajv {
  ajv.addKeyword({ keyword: 'durationRange', schemaType: 'object', errors: true, validate: durationRange });
  ajv.addKeyword({
    keyword: 'amqpName',
    type: 'string',
    schemaType: 'string',
    errors: true,
    validate: amqpName,
  });
  ajv.addKeyword({
    keyword: 'amqpKeys',
    type: 'object',
    schemaType: 'string',
    errors: true,
    validate: amqpKeys,
  });
  ajv.addKeyword({
    keyword: 'httpUrl',
    type: 'string',
    schemaType: 'boolean',
    errors: true,
    validate: httpUrl,
  });
  ajv.addKeyword({
    keyword: 'httpHeaders',
    type: 'object',
    schemaType: 'boolean',
    errors: true,
    validate: httpHeaders,
  });
  return ajv;
}

/** The keywords above whose errors carry their own message. */
export const warrenKeywords = new Set(['durationRange', 'amqpName', 'amqpKeys', 'httpUrl', 'httpHeaders']);
