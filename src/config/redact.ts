import type { ConfigIssue } from './issues.js';

export const redacted = '<redacted>';

const sensitiveName = /authorization|cookie|token|secret|password|api[-_]?key/i;

/**
 * A deep copy with every string that holds an interpolated value, and every value under a
 * sensitive-looking key, replaced. Used for `warren plan`, the admin API and logs. A view of
 * configuration (`urls: true`: `/api/routes`, `warren plan`) also masks the password and query
 * values of every URL (`maskUrl`); a view of messages (the DLQ) shows their data as it is.
 */
export function redact<T>(value: T, secrets: readonly string[], options: { urls?: boolean } = {}): T {
  const hasSecret = (s: string) => secrets.some((secret) => secret.length > 0 && s.includes(secret));
  const shown = options.urls ? maskUrl : (s: string) => s;
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === 'string') return sensitiveName.test(key) || hasSecret(v) ? redacted : shown(v);
    if (Array.isArray(v)) return v.map((item) => walk(item, key));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    }
    return v;
  };
  return walk(value, '') as T;
}

/** A whole string that is a URL: scheme, `//`, userinfo, authority, path, query, fragment. */
const urlParts =
  /^([a-z][a-z0-9+.-]*:\/\/)(?:([^/?#@:\s]*):([^/?#@\s]*)@)?([^?#\s]*)(?:\?([^#\s]*))?(#\S*)?$/i;

/**
 * A URL with its password and query values masked, as written otherwise (no parser normalises it):
 * `https://user:<redacted>@host/path?token=<redacted>`. A URL written in a route file, not
 * interpolated, may still carry credentials (`?sig=…`, `user:pass@`); origin and path are what a
 * reader of the admin API needs. Any other string is returned as it is.
 */
export function maskUrl(text: string): string {
  const parts = urlParts.exec(text);
  if (!parts || (parts[3] === undefined && parts[5] === undefined)) return text;
  const [, scheme, user, password, rest, query, fragment = ''] = parts;
  const userinfo = password === undefined ? '' : `${user}:${redacted}@`;
  const masked =
    query === undefined
      ? ''
      : `?${query
          .split('&')
          .map((pair) => (pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=${redacted}` : pair))
          .join('&')}`;
  return `${scheme}${userinfo}${rest}${masked}${fragment}`;
}

/**
 * Every spelling in which a secret may come back: as written, percent-encoded (a path segment,
 * a query value with `%20` or with `+` for a space), form-decoded, as a JSON pointer segment and
 * inside a JSON string. A variant shorter than the secret itself (`%41` decoded) is kept only
 * from 6 characters on, so that a decoding cannot turn a secret into an ordinary word.
 */
export function secretVariants(secret: string): string[] {
  if (secret === '') return [];
  const variants = new Set<string>([secret]);
  const encoded = encodeURIComponent(secret);
  variants.add(encoded);
  variants.add(encoded.replace(/%20/g, '+'));
  variants.add(new URLSearchParams({ v: secret }).toString().slice(2));
  variants.add(encodeURI(secret));
  // Only the space escaped, the rest as written: how a query value travels once a URL parser saw it.
  variants.add(secret.replace(/ /g, '+'));
  variants.add(secret.replace(/ /g, '%20'));
  variants.add(JSON.stringify(secret).slice(1, -1));
  variants.add(secret.replace(/~/g, '~0').replace(/\//g, '~1'));
  for (const decode of [decodeURIComponent, (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))]) {
    try {
      variants.add(decode(secret));
    } catch {
      // not percent-encoded: nothing to decode
    }
  }
  const floor = Math.min(secret.length, 6);
  return [...variants].filter((v) => v.length >= floor);
}

/**
 * A function that returns `text` with every spelling of every secret replaced by `<redacted>`, in
 * one pass, longest match first (so a secret that contains another is blanked whole, and
 * `<redacted>` itself is never searched again). The variants and the pattern are built once: a
 * webhook route builds its scrubber when it is created and uses it on every error page.
 */
export function scrubberFor(secrets: readonly string[]): (text: string) => string {
  const variants = [...new Set(secrets.flatMap(secretVariants))].sort((a, b) => b.length - a.length);
  if (variants.length === 0) return (text) => text;
  const pattern = new RegExp(variants.map(escapeRegExp).join('|'), 'g');
  return (text) => text.replace(pattern, redacted);
}

/** The one text scrubber, for a single use (config issues); see scrubberFor. */
export function scrub(text: string, secrets: readonly string[]): string {
  return scrubberFor(secrets)(text);
}

/**
 * Config issues with interpolated values blanked from their message and pointer: an issue names
 * the place (`file:line:col`), never the value an `${env:…}`/`${file:…}` produced.
 */
export function redactIssues(issues: ConfigIssue[], secrets: readonly string[]): ConfigIssue[] {
  if (secrets.length === 0) return issues;
  const blank = scrubberFor(secrets);
  return issues.map((issue) => ({ ...issue, pointer: blank(issue.pointer), message: blank(issue.message) }));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
