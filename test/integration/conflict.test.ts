import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

interface RouteView {
  name: string;
  state: string;
  error?: { code: string; message: string };
}

/** Two routes on one exchange: `wants-quorum` consumes a queue the test declared first (a 406
 * waits for it), `healthy` consumes a fresh queue and must work regardless. */
function routeFiles(
  exchange: string,
  conflicted: string,
  healthy: string,
  url: string,
): Record<string, string> {
  return {
    'routes.yaml': `
exchanges:
  ${exchange}: { type: direct }
routes:
  wants-quorum:
    from: { queue: ${conflicted}, bind: [{ exchange: ${exchange}, key: conflicted }] }
    deliveryLimit: 2
    to: { webhook: { url: "${url}" } }
  healthy:
    from: { queue: ${healthy}, bind: [{ exchange: ${exchange}, key: healthy }] }
    to: { webhook: { url: "${url}" } }
`,
  };
}

describe('a 406 topology conflict', () => {
  const h = useHarness();
  let exchange: string;
  let conflicted: string;
  let healthy: string;

  beforeEach(async () => {
    exchange = uniqueName('conflict.x');
    conflicted = uniqueName('conflict.classic');
    healthy = uniqueName('conflict.healthy');
    h.broker.track('queue', conflicted, healthy);
  });

  describe('when the route wants quorum and the queue exists as classic', () => {
    beforeEach(async () => {
      // What an operator or an older consumer left behind: a plain durable classic queue.
      await h.broker.channel.assertQueue(conflicted, { durable: true });
      h.warren = await startWarren(routeFiles(exchange, conflicted, healthy, h.receiver.url()), h.broker);
    });

    it('fails that route with WARREN_E_TOPOLOGY_CONFLICT naming the route, the queue and x-queue-type', () => {
      const route = h.warren!.runtime.describe().routes.find((r) => r.name === 'wants-quorum');
      expect(route?.state).toBe('failed');
      expect(route?.error?.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');
      expect(route?.error?.message).toContain('wants-quorum');
      expect(route?.error?.message).toContain(conflicted);
      // The real difference is the queue type (it needs a new queue), not whichever argument the
      // broker happens to compare first.
      expect(route?.error?.message).toContain('x-queue-type');
    });

    it('leaves the existing queue as it was and does not consume it', async () => {
      await h.broker.publish('', conflicted, 'left alone', { messageId: 'left-alone' });
      // Declaring it again exactly as the test did still succeeds: Warren changed nothing.
      await h.broker.channel.assertQueue(conflicted, { durable: true });
      expect(await h.broker.depth(conflicted)).toBe(1);
      expect(h.receiver.ids().has('left-alone')).toBe(false);
    });

    it('keeps the other route of the same config consuming and delivering', async () => {
      const route = h.warren!.runtime.describe().routes.find((r) => r.name === 'healthy');
      expect(route?.state).toBe('consuming');
      await h.broker.publish(exchange, 'healthy', '{"ok":true}', { messageId: 'healthy-1' });
      await waitFor('the healthy route to deliver', () => h.receiver.ids().has('healthy-1'));
      await waitFor('the healthy route to ack', async () => (await h.broker.depth(healthy)) === 0);
      expect(h.receiver.requests.map((r) => r.headers['x-warren-route'])).toEqual(['healthy']);
    });

    it('answers /readyz with 503 naming the failed route', async () => {
      const res = await h.warren!.admin.request('/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as { ready: boolean; reasons: string[] };
      expect(body.ready).toBe(false);
      const reason = body.reasons.find((r) => r.includes('wants-quorum'));
      expect(reason).toContain('failed');
      expect(reason).toContain(conflicted);
      expect(body.reasons.some((r) => r.includes('healthy'))).toBe(false);
    });

    it('shows the failed route with its error in /api/routes', async () => {
      const res = await h.warren!.admin.request('/api/routes');
      expect(res.status).toBe(200);
      const body = (await res.json()) as { routes: RouteView[] };
      const failed = body.routes.find((r) => r.name === 'wants-quorum');
      expect(failed?.state).toBe('failed');
      expect(failed?.error?.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');
      expect(failed?.error?.message).toContain(conflicted);
      expect(body.routes.find((r) => r.name === 'healthy')).toMatchObject({ state: 'consuming' });
      expect(body.routes.find((r) => r.name === 'healthy')?.error).toBeUndefined();

      const one = await h.warren!.admin.request('/api/routes/wants-quorum');
      expect(one.status).toBe(200);
      expect(((await one.json()) as RouteView).error?.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');
    });
  });

  it('names x-delivery-limit when a quorum queue exists with another delivery limit', async () => {
    // Exactly Warren's poison-guard declaration for this route, except the limit.
    await h.broker.channel.assertQueue(conflicted, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 5,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': `${conflicted}.dlq`,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
    h.warren = await startWarren(routeFiles(exchange, conflicted, healthy, h.receiver.url()), h.broker);
    const routes = h.warren.runtime.describe().routes;
    const failed = routes.find((r) => r.name === 'wants-quorum');
    expect(failed?.state).toBe('failed');
    expect(failed?.error?.code).toBe('WARREN_E_TOPOLOGY_CONFLICT');
    expect(failed?.error?.message).toContain('wants-quorum');
    expect(failed?.error?.message).toContain(conflicted);
    expect(failed?.error?.message).toContain('x-delivery-limit');
    expect(routes.find((r) => r.name === 'healthy')?.state).toBe('consuming');
    expect((await h.warren.admin.request('/readyz')).status).toBe(503);
  });
});
