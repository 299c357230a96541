import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { redact } from '../config/redact.js';
import { replyCode } from '../dlq/channel.js';
import { parseLimit } from '../dlq/limit.js';
import { peekDefaultLimit, peekMaxLimit, peekQueue } from '../dlq/peek.js';
import { type RedriveConnections, RedriveError, redriveQueue } from '../dlq/redrive.js';
import { isWarrenError, WarrenError } from '../errors.js';
import type { RoutePlan } from '../topology/plan.js';

export interface DlqRoutesOptions {
  /** The running version of a route, by name. */
  route(name: string): Pick<RoutePlan, 'name' | 'queue' | 'deadLetterQueue'> | undefined;
  /** The broker connections to work on (Warren's own); undefined while there are none. */
  connections(): RedriveConnections | undefined;
  /** `requireAdmin(token, boundToLoopback)` from auth.ts: both endpoints show or move message data. */
  requireAdmin: MiddlewareHandler;
  /** Hides interpolated config values in what is returned (`runtime.redacted`); by default only
   * values under credential-looking names (e.g. an `authorization` header) are hidden. */
  redact?: <T>(value: T) => T;
}

/** The HTTP status for an error of the DLQ tools. */
function statusOf(err: unknown): ContentfulStatusCode {
  if (isWarrenError(err, 'WARREN_E_USAGE')) return 400;
  if (isWarrenError(err, 'WARREN_E_NOT_CONNECTED')) return 503;
  if (replyCode(err) === 404) return 404; // the route's DLQ or source queue does not exist
  return 502;
}

/**
 * `GET /api/dlq/:route?limit=N` (peek) and `POST /api/dlq/:route/redrive?limit=N` (README: Admin API), as a
 * sub-app to mount on the admin app. Both run on Warren's own connections: the peek on a channel of
 * its own, the redrive with confirms on the publishing connection. One redrive per DLQ at a time.
 */
export function createDlqRoutes(options: DlqRoutesOptions): Hono {
  const app = new Hono();
  const hide = options.redact ?? (<T>(value: T): T => redact(value, []));
  const redriving = new Set<string>();

  const failure = (c: Context, err: unknown, extra: Record<string, unknown> = {}) => {
    if (!(err instanceof WarrenError)) throw err; // a bug: Hono's 500
    return c.json(hide({ error: err.message, code: err.code, ...extra }), statusOf(err));
  };

  const resolve = (c: Context) => {
    const name = c.req.param('route') ?? '';
    const plan = options.route(name);
    if (!plan) return { response: c.json({ error: `no route named ${name}` }, 404) };
    const connections = options.connections();
    if (!connections) {
      return {
        response: c.json({ error: 'not connected to RabbitMQ', code: 'WARREN_E_NOT_CONNECTED' }, 503),
      };
    }
    return { plan, connections };
  };

  app.get('/api/dlq/:route', options.requireAdmin, async (c) => {
    const found = resolve(c);
    if ('response' in found) return found.response;
    const { plan, connections } = found;
    try {
      const limit = parseLimit(c.req.query('limit'), peekDefaultLimit, peekMaxLimit)!;
      const peek = await peekQueue(connections.consume, plan.deadLetterQueue, limit);
      return c.json(
        hide({
          route: plan.name,
          queue: peek.queue,
          source: plan.queue,
          total: peek.total,
          limit,
          messages: peek.messages,
        }),
      );
    } catch (err) {
      return failure(c, err);
    }
  });

  app.post('/api/dlq/:route/redrive', options.requireAdmin, async (c) => {
    const found = resolve(c);
    if ('response' in found) return found.response;
    const { plan, connections } = found;
    let limit: number | undefined;
    try {
      limit = parseLimit(c.req.query('limit'), undefined);
    } catch (err) {
      return failure(c, err);
    }
    const from = plan.deadLetterQueue;
    if (redriving.has(from)) return c.json({ error: `a redrive of ${from} is already running` }, 409);
    redriving.add(from);
    try {
      const result = await redriveQueue(connections, { from, to: plan.queue, ...(limit ? { limit } : {}) });
      return c.json(hide({ route: plan.name, ...result }));
    } catch (err) {
      const counts = err instanceof RedriveError ? { moved: err.moved, requested: err.requested } : {};
      return failure(c, err, { route: plan.name, from, to: plan.queue, ...counts });
    } finally {
      redriving.delete(from);
    }
  });

  return app;
}
