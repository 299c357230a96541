import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';

const loopback = /^(127\.|::1$|::ffff:127\.)/;

/** The peer's address; undefined for an in-process request (tests), which is treated as local. */
function remoteAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Mutating endpoints need `Authorization: Bearer $WARREN_ADMIN_TOKEN`; with no token configured
 * they answer only to loopback clients (DESIGN §7).
 */
export function requireAdmin(token: string | undefined): MiddlewareHandler {
  return async function requireAdminToken(c, next) {
    if (token) {
      const header = c.req.header('authorization') ?? '';
      // The scheme name is case-insensitive (RFC 9110 §11.1).
      const given = /^bearer +(.+)$/i.exec(header)?.[1]?.trim() ?? '';
      if (!sameSecret(given, token)) return c.json({ error: 'a valid bearer token is required' }, 401);
    } else {
      const address = remoteAddress(c);
      if (address !== undefined && !loopback.test(address)) {
        return c.json({ error: 'no WARREN_ADMIN_TOKEN is set: only loopback clients may call this' }, 403);
      }
    }
    await next();
  };
}
