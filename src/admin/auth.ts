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

/**
 * Mutating endpoints and DLQ reads need `Authorization: Bearer $WARREN_ADMIN_TOKEN`. With no token
 * configured they answer only when the server is BOUND to a loopback address: who the peer claims
 * to be proves nothing (a service-mesh sidecar connects from 127.0.0.6), where the socket listens
 * does. `boundToLoopback` is asked per request, since the address is known once listening.
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
    }
    await next();
  };
}
