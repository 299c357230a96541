import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Options } from 'amqplib';
import { WarrenError } from '../errors.js';

/** One broker address of `--amqp` / `AMQP_URL`, parsed. */
export interface AmqpUrl {
  protocol: 'amqp' | 'amqps';
  username?: string;
  password?: string;
  hostname: string;
  port?: number;
  /** Decoded; undefined for the default vhost `/`. */
  vhost?: string;
  /** The query (heartbeat, frameMax, channelMax, locale), as written. */
  query: URLSearchParams;
}

const numericParams = ['heartbeat', 'frameMax', 'channelMax'] as const;
const shape = 'amqp[s]://user:password@host:port/vhost';

function invalid(message: string): WarrenError {
  return new WarrenError('WARREN_E_USAGE', `bad AMQP URL: ${message} (expected ${shape})`);
}

/**
 * Parses one AMQP URL by its structure, never by a pattern over the whole text: the credentials
 * run up to the LAST `@`, so a password may hold `@`, `#`, `/`, `?` or `:` unencoded (percent-
 * encoded works too). Errors never quote the text: a broken URL may hold a password anywhere.
 */
export function parseAmqpUrl(text: string): AmqpUrl {
  if (text.trim() === '') throw invalid('it is empty');
  const schemeEnd = text.indexOf('://');
  const scheme = schemeEnd === -1 ? '' : text.slice(0, schemeEnd).toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw invalid(
      /^[a-z][a-z0-9+.-]{0,15}$/.test(scheme)
        ? `the scheme is ${scheme}:, not amqp: or amqps:`
        : 'it does not start with amqp:// or amqps://',
    );
  }
  const rest = text.slice(schemeEnd + 3);
  const at = rest.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : rest.slice(0, at);
  const afterAt = rest.slice(at + 1);
  const authorityEnd = afterAt.search(/[/?#]/);
  const authority = authorityEnd === -1 ? afterAt : afterAt.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : afterAt.slice(authorityEnd);
  if (tail.includes('#')) throw invalid('a #fragment is not part of an AMQP URL');
  const { hostname, port } = parseAuthority(authority);
  const queryStart = tail.indexOf('?');
  const path = queryStart === -1 ? tail : tail.slice(0, queryStart);
  const query = new URLSearchParams(queryStart === -1 ? '' : tail.slice(queryStart + 1));
  for (const name of numericParams) {
    const value = query.get(name);
    if (value !== null && !/^\d+$/.test(value)) throw invalid(`${name} must be a whole number`);
  }
  const vhost = path.length > 1 ? decodeLeniently(path.slice(1)) : undefined;
  const url: AmqpUrl = { protocol: scheme, hostname, query };
  if (port !== undefined) url.port = port;
  if (vhost !== undefined) url.vhost = vhost;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    url.username = decodeLeniently(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (colon !== -1) url.password = decodeLeniently(userinfo.slice(colon + 1));
  }
  return url;
}

function parseAuthority(authority: string): { hostname: string; port?: number } {
  let hostname: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) throw invalid('an IPv6 address lacks its closing ]');
    hostname = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw invalid('unexpected text after the IPv6 address');
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = authority.indexOf(':');
    hostname = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
  }
  if (hostname === '') throw invalid('the host is missing');
  const bracketed = authority.startsWith('[');
  if (bracketed ? isIP(hostname) !== 6 : !/^[A-Za-z0-9._-]+$/.test(hostname)) {
    throw invalid('the host is not a valid host name or address');
  }
  if (portText === undefined) return { hostname };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) throw invalid('the port must be a number from 1 to 65535');
  return { hostname, port };
}

/** Percent-decoded when it is valid percent-encoding; otherwise as written (`50%off`). */
function decodeLeniently(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * `--amqp` may list several brokers, comma-separated. The list is split only where a comma is
 * followed by a scheme, so a password may hold a comma. Every element is parsed.
 */
export function parseAmqpUrls(text: string): AmqpUrl[] {
  return splitUrlList(text).map(parseAmqpUrl);
}

/**
 * A node's name where a password must never appear (the metric's label, `/api/routes`):
 * `host:port`, with the scheme's default port when the URL has none.
 */
export function nodeName(url: AmqpUrl): string {
  const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
  return `${host}:${url.port ?? (url.protocol === 'amqps' ? 5671 : 5672)}`;
}

function splitUrlList(text: string): string[] {
  return text.split(/,\s*(?=amqps?:\/\/)/i);
}

/**
 * The one way a broker URL is printed (logs, errors, CLI output): every element of a list is
 * parsed and printed with its password as `***`; an element that does not parse is printed as
 * `<unparsable URL>`, since its password could be anywhere in it.
 */
export function redactUrl(text: string): string {
  return splitUrlList(text)
    .map((element) => {
      try {
        return formatUrl(parseAmqpUrl(element));
      } catch {
        return '<unparsable URL>';
      }
    })
    .join(',');
}

/** One parsed node of the list as it is printed: its password as `***`. */
export function formatUrl(url: AmqpUrl): string {
  const user =
    url.username === undefined
      ? ''
      : `${encodeURIComponent(url.username)}${url.password === undefined ? '' : ':***'}@`;
  const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
  const port = url.port === undefined ? '' : `:${url.port}`;
  const vhost = url.vhost === undefined ? '' : `/${encodeURIComponent(url.vhost)}`;
  const query = url.query.size > 0 ? `?${url.query.toString()}` : '';
  return `${url.protocol}://${user}${host}${port}${vhost}${query}`;
}

/**
 * What amqplib connects with: an object, not the text, so a password with `#` or `@` reaches
 * the broker as written (amqplib's own URL parsing would cut it). A dead peer is noticed within
 * two heartbeats: 15 s unless the URL sets its own.
 */
export function connectOptions(url: AmqpUrl): Options.Connect {
  const options: Options.Connect = {
    protocol: url.protocol,
    hostname: url.hostname,
    heartbeat: Number(url.query.get('heartbeat') ?? 15),
  };
  if (url.port !== undefined) options.port = url.port;
  // amqplib unescapes the vhost of an object too.
  if (url.vhost !== undefined) options.vhost = encodeURIComponent(url.vhost);
  if (url.username !== undefined) {
    options.username = url.username;
    options.password = url.password ?? '';
  }
  const frameMax = url.query.get('frameMax');
  if (frameMax !== null) options.frameMax = Number(frameMax);
  const locale = url.query.get('locale');
  if (locale !== null) options.locale = locale;
  const channelMax = url.query.get('channelMax');
  if (channelMax !== null) (options as { channelMax?: number }).channelMax = Number(channelMax);
  return options;
}

/** The contents of `WARREN_AMQP_CA`, `WARREN_AMQP_CERT` and `WARREN_AMQP_KEY`, read once at start. */
export interface TlsFiles {
  /** PEM; trusted besides the system CAs, not instead of them. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * The second argument of `amqp.connect` for TLS (amqplib passes it to `tls.connect`; it sets
 * `servername` from the host itself). Nothing for `amqp://`: a certificate meant for TLS never
 * changes a plain connection. The system CAs stay trusted: a given CA is added to them, so an
 * operator who names a private CA does not lose the public ones.
 */
export function tlsSocketOptions(url: AmqpUrl, files: TlsFiles): TlsSocketOptions {
  if (url.protocol !== 'amqps') return {};
  const options: TlsSocketOptions = {};
  if (files.ca) options.ca = [...rootCertificates, files.ca.toString('utf8')];
  if (files.cert) options.cert = files.cert;
  if (files.key) options.key = files.key;
  return options;
}

export interface TlsSocketOptions {
  ca?: Array<string | Buffer>;
  cert?: Buffer;
  key?: Buffer;
}

/** Node's codes for a chain that ends in no CA Warren trusts. */
const untrusted = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * What a failed TLS connection to `host:port` means, in one line, or undefined when the error is
 * not about TLS. OpenSSL's own words are kept (they are what a search finds); the hint says which
 * variable fixes it. Written for the log line of an unreachable broker and for `warren dlq`.
 */
export function describeTlsFailure(err: unknown, url: AmqpUrl): string | undefined {
  if (url.protocol !== 'amqps' || !(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
  const where = `${host}:${url.port ?? 5671}`;
  // OpenSSL's errors carry their short reason apart from a message of addresses and source lines.
  const reason = (err as { reason?: unknown }).reason;
  const said = typeof reason === 'string' && reason !== '' ? reason : err.message.split('\n')[0]!.trim();
  if (untrusted.has(code)) return `TLS: certificate of ${where} not trusted: ${said} (set WARREN_AMQP_CA)`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return `TLS: certificate of ${where} not valid now: ${said}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `TLS: certificate of ${where} is not for this host: ${said} (connect by a name the certificate lists)`;
  if (code.endsWith('ALERT_CERTIFICATE_REQUIRED'))
    return `TLS: ${where} requires a client certificate: ${said} (set WARREN_AMQP_CERT and WARREN_AMQP_KEY)`;
  if (/ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)$/.test(code))
    return `TLS: ${where} refused the handshake: ${said} (a client certificate its CA did not sign, or none where it requires one? see WARREN_AMQP_CERT)`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER')
    return `TLS: ${where} does not speak TLS: ${said} (is it a plain amqp:// port?)`;
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_'))
    return `TLS: handshake with ${where} failed: ${said}`;
  return undefined;
}
