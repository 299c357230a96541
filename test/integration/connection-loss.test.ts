import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, spawnWarren } from '../helpers/cli.js';
import { sample } from '../helpers/metrics.js';
import type { FaultProxy } from '../helpers/proxy.js';
import { startWarren, trackPlan, useHarness } from '../helpers/warren.js';

const streamRoute = (exchange: string, queue: string, url: string): Record<string, string> => ({
  'routes.yaml': `
exchanges:
  ${exchange}: { type: direct }
routes:
  stream:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: stream }] }
    prefetch: 20
    to: { webhook: { url: "${url}" } }
`,
});

describe('losing the broker connection', () => {
  const h = useHarness();

  describe('mid-stream, through a proxy that cuts it', () => {
    let proxy: FaultProxy;

    beforeEach(async () => {
      proxy = await h.proxy();
    });

    it('delivers every published message at least once across cuts, and reports being down', async () => {
      const exchange = uniqueName('loss.x');
      const queue = uniqueName('loss');
      // A little work per request keeps deliveries in flight when the connection goes.
      h.receiver.responder = () => new Promise((resolve) => setTimeout(() => resolve(200), 2));
      h.warren = await startWarren(streamRoute(exchange, queue, h.receiver.url()), h.broker, {
        url: proxy.url(),
      });
      const metricsText = async () => (await h.warren!.admin.request('/metrics')).text();
      const readyStatus = async () => (await h.warren!.admin.request('/readyz')).status;
      expect(await readyStatus()).toBe(200);
      expect(sample(await metricsText(), 'warren_amqp_connected')).toBe(1);

      const total = 500;
      const published: string[] = [];
      const connectionsAtStart = proxy.connections;
      let cuts = 0;
      for (let i = 0; i < total; i++) {
        const id = `${queue}-${i}`;
        // Straight to the broker: publishing never goes through the proxy.
        await h.broker.publish(exchange, 'stream', JSON.stringify({ n: i }), { messageId: id });
        published.push(id);
        if (i === 100 || i === 220 || i === 350) {
          // Each cut hits a session that is up and consuming (not one still reconnecting).
          await waitFor('warren ready before the cut', async () => (await readyStatus()) === 200);
          cuts++;
        }
        if (i === 100 || i === 350) proxy.cut();
        if (i === 220) {
          // A longer outage: refuse reconnects until the test has seen Warren report it.
          proxy.refuse = true;
          proxy.cut();
          await waitFor('/readyz to say it is not connected', async () => {
            const res = await h.warren!.admin.request('/readyz');
            const body = (await res.json()) as { reasons: string[] };
            return res.status === 503 && body.reasons.some((r) => r.includes('not connected'));
          });
          await waitFor(
            'warren_amqp_connected to drop to 0',
            async () => sample(await metricsText(), 'warren_amqp_connected') === 0,
          );
          proxy.refuse = false;
          await waitFor(
            '/readyz to answer 200 after reconnecting',
            async () => (await readyStatus()) === 200,
          );
          await waitFor(
            'warren_amqp_connected back at 1',
            async () => sample(await metricsText(), 'warren_amqp_connected') === 1,
          );
        }
      }

      await waitFor(
        'every published message id at the receiver',
        () => {
          const ids = h.receiver.ids();
          return published.every((id) => ids.has(id));
        },
        30_000,
      );
      await waitFor(
        'the queue drained and acked',
        async () =>
          (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes[0]!.inFlight === 0,
      );
      // Each cut dropped a live session: a new consume and publish connection after each one.
      expect(proxy.connections - connectionsAtStart).toBeGreaterThanOrEqual(2 * cuts);
      expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
      expect(await readyStatus()).toBe(200);
      expect(sample(await metricsText(), 'warren_amqp_connected')).toBe(1);
    });
  });

  describe('while reconnecting', () => {
    let proxy: FaultProxy;
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);

    beforeEach(async () => {
      proxy = await h.proxy();
      uncaught.length = 0;
      process.on('uncaughtException', onUncaught);
    });

    afterEach(async () => {
      process.off('uncaughtException', onUncaught);
    });

    it('survives the consume connection dropping while the publish connection still opens', async () => {
      const exchange = uniqueName('halfopen.x');
      const queue = uniqueName('halfopen');
      h.warren = await startWarren(streamRoute(exchange, queue, h.receiver.url()), h.broker, {
        url: proxy.url(),
      });
      expect((await h.warren.admin.request('/readyz')).status).toBe(200);

      // Reconnect: the consume connection goes through, the publish connection hangs mid-handshake.
      proxy.holdAfter(1);
      proxy.cut();
      await waitFor('the publish connection held while opening', () => proxy.held.length === 1);
      // Now the (open) consume connection is lost before the session has taken it over.
      proxy.cut();
      // Same process, loopback: give Warren's socket a moment to see the close before resuming.
      await new Promise((resolve) => setTimeout(resolve, 200));
      proxy.release();

      await waitFor(
        'warren ready again',
        async () => (await h.warren!.admin.request('/readyz')).status === 200,
      );
      await h.broker.publish(exchange, 'stream', 'after the half-open session', {
        messageId: `${queue}-after`,
      });
      await waitFor('a delivery after reconnecting', () => h.receiver.ids().has(`${queue}-after`));
      expect(uncaught.map((e) => e.message)).toEqual([]);
    });
  });
});

describe('a delivery that finishes while its connection is closing', () => {
  const h = useHarness();
  let proxy: FaultProxy;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeEach(async () => {
    proxy = await h.proxy();
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
  });

  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  });

  it('is abandoned to the broker (never a crash) and delivered again after reconnecting', async () => {
    const exchange = uniqueName('closing.x');
    const queue = uniqueName('closing');
    const id = `${queue}-1`;
    let answerFirst!: (status: number) => void;
    let answerRedelivery!: (status: number) => void;
    const first = new Promise<number>((resolve) => {
      answerFirst = resolve;
    });
    const redelivery = new Promise<number>((resolve) => {
      answerRedelivery = resolve;
    });
    h.receiver.responder = (_req, n) => (n === 0 ? first : redelivery);
    h.warren = await startWarren(streamRoute(exchange, queue, h.receiver.url()), h.broker, {
      url: proxy.url(),
    });
    expect(proxy.pairs).toHaveLength(2);
    const deliveries = () => h.warren!.logs.filter((l) => l.event === 'delivery' && l.id === id);

    await h.broker.publish(exchange, 'stream', 'in flight while closing', { messageId: id });
    await waitFor('the request at the receiver', () => h.receiver.requests.length === 1);
    // The publish connection dies; the session closes the consume connection too, whose close-ok
    // never arrives: its channel still counts as open, but the connection is closing.
    proxy.freeze(0);
    proxy.pairs[1]!.client.destroy();
    await waitFor('warren to notice the lost connection', () =>
      h.warren!.logs.some((l) => l.event === 'amqp_disconnected'),
    );
    answerFirst(200);
    await waitFor(
      'the first delivery settled (or a crash)',
      () => deliveries().length > 0 || unhandled.length > 0,
    );
    expect(unhandled.map(String)).toEqual([]);
    expect(deliveries()[0]!.outcome).toBe('abandoned');

    // The broker requeued it when the old connection went; the new session delivers it again.
    await waitFor('the redelivery', () => h.receiver.requests.length === 2);
    expect(h.receiver.requests[1]!.headers['webhook-id']).toBe(id);
    expect(h.receiver.requests[1]!.headers['x-warren-redelivered']).toBe('true');
    answerRedelivery(200);
    await waitFor('the redelivery settled', () => deliveries().length === 2);
    expect(deliveries()[1]!.outcome).toBe('ack');
    await waitFor('the queue empty', async () => (await h.broker.depth(queue)) === 0);
    expect(unhandled.map(String)).toEqual([]);
  });
});

describe('starting with no broker reachable', () => {
  const h = useHarness();
  let proxy: FaultProxy;

  beforeEach(async () => {
    proxy = await h.proxy();
  });

  it('says once which URL it tries and how to start RabbitMQ, retries, then connects', async () => {
    const queue = uniqueName('unreachable');
    const routesDir = await h.routesDir({
      'routes.yaml': `
routes:
  late:
    from: { queue: ${queue} }
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
    });
    await trackPlan(h.broker, routesDir);

    proxy.refuse = true;
    // The real CLI: the hint is about a process that has never been connected.
    const cli = await spawnWarren({
      routes: routesDir,
      amqp: proxy.url(),
      drainTimeout: '5s',
      env: { WARREN_LOG_LEVEL: 'info' },
    });
    h.defer(() => killCli(cli));
    const { lines, exited, adminPort } = cli;

    // Several refused attempts (the first connect, then the backoff retries) …
    await waitFor(
      `several refused connection attempts (stderr: ${cli.stderr()})`,
      () => proxy.attempts >= 4,
      30_000,
    );
    const unreachable = lines.filter((l) => l.event === 'amqp_unreachable');
    expect(unreachable).toHaveLength(1);
    expect(String(unreachable[0]!.url)).toContain(`127.0.0.1:${proxy.port}`);
    expect(String(unreachable[0]!.url)).not.toContain('guest:guest');
    expect(String(unreachable[0]!.msg)).toContain(`127.0.0.1:${proxy.port}`);
    expect(String(unreachable[0]!.msg)).toMatch(/rabbitmq-server|docker run/);
    const notReady = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    expect(notReady.status).toBe(503);

    // … then the broker "comes up": Warren connects, without saying it again, and delivers.
    proxy.refuse = false;
    await waitFor('the amqp_connected line', () => lines.some((l) => l.event === 'amqp_connected'), 30_000);
    await waitFor(
      '/readyz to answer 200',
      async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200,
    );
    expect(lines.filter((l) => l.event === 'amqp_unreachable')).toHaveLength(1);
    await h.broker.publish('', queue, 'hello', { messageId: 'after-start' });
    await waitFor('the first delivery', () => h.receiver.ids().has('after-start'));

    cli.child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});
