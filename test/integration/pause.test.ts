import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sleep, type TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { type RunningWarren, startWarren, useHarness } from '../helpers/warren.js';

/**
 * Pause and resume through the admin API (issue 5, item 9): a paused route stops consuming (its
 * messages stay in the queue), lets its deliveries in flight finish, stays paused across reloads,
 * and resumes where it stopped.
 */

const token = 'pause-test-token';

const routes = (exchange: string, queue: string, url: string, extra = '', prefetch = 10) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  slow:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: ${prefetch}
    concurrency: 2
${extra}
    to: { webhook: { url: "${url}", timeout: 5s } }
`;

/** POSTs with the admin token, another authorization header, or (null) none. */
function post(warren: RunningWarren, path: string, auth: string | null = `Bearer ${token}`) {
  return warren.admin.request(path, { method: 'POST', headers: auth ? { authorization: auth } : {} });
}

function publish(broker: TestBroker, exchange: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    broker.channel.publish(exchange, 'k', Buffer.from(`{"n":${i}}`), {
      messageId: `m-${i}`,
      persistent: true,
    });
  }
  return broker.channel.waitForConfirms();
}

describe('pause and resume', () => {
  const h = useHarness();

  it('pauses a route: in-flight deliveries finish and are acked, the rest stay in the queue, across reloads, until resumed', async () => {
    const exchange = uniqueName('pause');
    const queue = uniqueName('pause.q');
    h.receiver.responder = () => sleep(300).then(() => 200);
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, h.receiver.url()) }, h.broker, {
      adminToken: token,
    });
    h.warren = warren;
    const route = () => warren.runtime.describe().routes[0]!;
    await publish(h.broker, exchange, 1, 20);
    await waitFor('two deliveries in the receiver', () => h.receiver.requests.length >= 2);

    const paused = await post(warren, '/api/routes/slow/pause');
    expect(paused.status).toBe(200);
    expect(await paused.json()).toEqual({ name: 'slow', state: 'paused', changed: true, unfinished: 0 });
    // Answered once the deliveries in flight finished: each one was acked.
    const delivered = h.receiver.requests.length;
    expect(warren.logs.filter((l) => l.event === 'delivery' && l.outcome === 'ack')).toHaveLength(delivered);
    expect(route()).toMatchObject({ state: 'paused', paused: true, inFlight: 0 });
    expect(await h.broker.consumers(queue)).toBe(0);
    await waitFor(
      'the undelivered messages back in the queue',
      async () => (await h.broker.depth(queue)) === 20 - delivered,
    );
    const ready = await warren.admin.request('/readyz');
    expect(ready.status).toBe(200);

    // New messages wait in the queue; reloads (a handler change, then a source change) keep it paused.
    await publish(h.broker, exchange, 21, 25);
    await writeFile(
      join(warren.dir, 'r.yaml'),
      routes(exchange, queue, h.receiver.url(), '    retry: { attempts: 3 }'),
    );
    expect((await warren.reloader.reload('test'))?.routes).toEqual([
      { route: 'slow', change: 'handler', ok: true },
    ]);
    expect(route().state).toBe('paused');
    await writeFile(
      join(warren.dir, 'r.yaml'),
      routes(exchange, queue, h.receiver.url(), '    retry: { attempts: 3 }', 12),
    );
    expect((await warren.reloader.reload('test'))?.routes).toEqual([
      { route: 'slow', change: 'source', ok: true },
    ]);
    expect(route()).toMatchObject({ state: 'paused', prefetch: 12 });
    await sleep(500);
    expect(h.receiver.requests).toHaveLength(delivered);
    expect(await h.broker.depth(queue)).toBe(25 - delivered);
    expect(await h.broker.consumers(queue)).toBe(0);

    // Idempotent.
    const again = await post(warren, '/api/routes/slow/pause');
    expect(await again.json()).toMatchObject({ changed: false, state: 'paused' });

    const resumed = await post(warren, '/api/routes/slow/resume');
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toEqual({ name: 'slow', state: 'consuming', changed: true });
    await waitFor('every message delivered', () => h.receiver.ids().size === 25);
    expect(h.receiver.requests).toHaveLength(25);
    expect(await h.broker.consumers(queue)).toBe(1);
    const twice = await post(warren, '/api/routes/slow/resume');
    expect(await twice.json()).toMatchObject({ changed: false, state: 'consuming' });
    expect(
      warren.logs.filter((l) => l.event === 'route_state' && l.route === 'slow').map((l) => l.state),
    ).toContain('paused');
  }, 30_000);

  it('stays paused across a lost connection, and resumes on the new one', async () => {
    const exchange = uniqueName('pause');
    const queue = uniqueName('pause.q');
    const proxy = await h.proxy();
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, h.receiver.url()) }, h.broker, {
      adminToken: token,
      url: proxy.url(),
    });
    h.warren = warren;
    const route = () => warren.runtime.describe().routes[0]!;
    expect((await post(warren, '/api/routes/slow/pause')).status).toBe(200);
    const connections = proxy.connections;
    const from = warren.logs.length;
    proxy.cut();
    await waitFor('a new connection', () => proxy.connections > connections);
    // On the new connection the route is declared again (declaring → paused), not consumed.
    await waitFor('the route declared again, still paused', () =>
      warren.logs.slice(from).some((l) => l.event === 'route_state' && l.state === 'paused'),
    );
    expect(
      warren.logs
        .slice(from)
        .filter((l) => l.event === 'route_state')
        .map((l) => l.state),
    ).toEqual(['declaring', 'paused']);
    expect(route().state).toBe('paused');
    expect((await warren.admin.request('/readyz')).status).toBe(200);
    await publish(h.broker, exchange, 1, 5);
    await sleep(500);
    expect(h.receiver.requests).toHaveLength(0);
    expect(await h.broker.consumers(queue)).toBe(0);

    expect((await post(warren, '/api/routes/slow/resume')).status).toBe(200);
    await waitFor('every message delivered', () => h.receiver.ids().size === 5);
    expect(route().state).toBe('consuming');
  }, 30_000);

  it('needs the admin token, and answers 404 for an unknown route', async () => {
    const exchange = uniqueName('pause');
    const queue = uniqueName('pause.q');
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, h.receiver.url()) }, h.broker, {
      adminToken: token,
    });
    h.warren = warren;
    for (const path of ['/api/routes/slow/pause', '/api/routes/slow/resume', '/api/routes/nope/pause']) {
      expect((await post(warren, path, null)).status).toBe(401);
      expect((await post(warren, path, 'Bearer wrong')).status).toBe(401);
    }
    expect(warren.runtime.describe().routes[0]!.state).toBe('consuming');
    const unknown = await post(warren, '/api/routes/nope/pause');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no route named nope' });
    expect((await post(warren, '/api/routes/nope/resume')).status).toBe(404);

    // Still consuming: a message goes through.
    await publish(h.broker, exchange, 1, 1);
    await waitFor('the message delivered', () => h.receiver.requests.length === 1);
  }, 30_000);
});
