import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a bound address can only be reached from this machine: 127.0.0.0/8, ::1 and the
 * IPv4-mapped loopback. 0.0.0.0, ::, and every other address (a pod IP) is the network.
 */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) !== 6) return false;
  // The URL parser writes an IPv6 address one canonical way (::ffff:127.0.0.1 → ::ffff:7f00:1).
  const canonical = new URL(`http://[${bare}]/`).hostname;
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/** WARREN_ADMIN_TOKEN as the server compares it: trimmed like the presented one; blank is none. */
export function adminToken(configured: string | undefined): string | undefined {
  const token = configured?.trim();
  return token ? token : undefined;
}

/** A host name that can only mean this machine: `localhost` (and `*.localhost`) or a loopback address. */
function isLoopbackName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || isLoopbackAddress(hostname);
}

/**
 * Why a request to a loopback-bound admin API without a token may come from another web page, or
 * undefined. Any page the operator's browser opens can send a POST to 127.0.0.1 (a form, a simple
 * fetch: the answer is opaque, the pause or redrive is done), and a page whose DNS name is rebound
 * to 127.0.0.1 is even same-origin with the API and may read dead letters. So the request must be
 * addressed to a loopback name (the Host a browser sends is the page's), and a browser's `Origin`
 * must be the API's own (the status page). curl and scripts send no Origin. With a token none of
 * this matters: a browser never adds an Authorization header on its own.
 */
function browserRefusal(
  url: string,
  origin: string | undefined,
  site: string | undefined,
): string | undefined {
  const target = new URL(url);
  const advice = 'set WARREN_ADMIN_TOKEN to use the admin API from elsewhere';
  if (!isLoopbackName(target.hostname)) {
    return `without WARREN_ADMIN_TOKEN the admin API answers only requests addressed to 127.0.0.1, [::1] or localhost, not ${JSON.stringify(target.hostname.slice(0, 100))}: ${advice}`;
  }
  // `Sec-Fetch-Site` also marks a cross-site GET that carries no Origin (an <img>, a <script>).
  if ((origin !== undefined && origin !== target.origin) || site === 'cross-site' || site === 'same-site') {
    return `without WARREN_ADMIN_TOKEN the admin API refuses a request a browser sent from another origin (${JSON.stringify((origin ?? site ?? '').slice(0, 100))}): ${advice}`;
  }
  return undefined;
}

/**
 * Mutating endpoints and DLQ reads need `Authorization: Bearer $WARREN_ADMIN_TOKEN`. With no token
 * configured they answer only when the server is BOUND to a loopback address: who the peer claims
 * to be proves nothing (a service-mesh sidecar connects from 127.0.0.6), where the socket listens
 * does; and only to a request no other web page made (`browserRefusal`). `boundToLoopback` is
 * asked per request, since the address is known once listening.
 */
export function requireAdmin(token: string | undefined, boundToLoopback: () => boolean): MiddlewareHandler {
  const expected = adminToken(token);
  return async function requireAdminToken(c, next) {
    if (expected) {
      const header = c.req.header('authorization') ?? '';
      // The scheme name is case-insensitive (RFC 9110 §11.1).
      const given = /^bearer +(.+)$/i.exec(header)?.[1]?.trim() ?? '';
      if (!sameSecret(given, expected)) return c.json({ error: 'a valid bearer token is required' }, 401);
    } else if (!boundToLoopback()) {
      return c.json(
        {
          error:
            'no WARREN_ADMIN_TOKEN is set and the admin API listens on a network address: ' +
            'set a token, or bind it to 127.0.0.1 (--admin-host)',
        },
        403,
      );
    } else {
      const refusal = browserRefusal(c.req.url, c.req.header('origin'), c.req.header('sec-fetch-site'));
      if (refusal) return c.json({ error: refusal }, 403);
    }
    await next();
  };
}
