import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { planTopology } from '../../src/topology/plan.js';
import { amqpUrl, TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { FaultProxy } from '../helpers/proxy.js';
import { closedPort, Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

const brokerPort = Number(new URL(amqpUrl).port || 5672);

/** Stops Warren for cleanup, but never hangs the hooks: a stop stuck on a broken session is left
 * behind (the test already failed) so the queues are still deleted. */
async function stopWarren(warren: RunningWarren | undefined): Promise<void> {
  if (!warren) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    warren.stop().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 10_000);
    }),
  ]);
  clearTimeout(timer);
}

/** The value of an unlabelled gauge in a Prometheus text exposition. */
function gauge(text: string, name: string): number | undefined {
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return line ? Number(line[1]) : undefined;
}

/**
 * A TCP proxy to the broker that counts every connection attempt and can refuse them (a broker
 * that is not up yet), hold them unanswered mid-handshake, or cut the ones it forwards.
 */
class ControlledProxy {
  refuse = false;
  attempts = 0;
  readonly held: Socket[] = [];
  readonly #server: Server;
  readonly #forwarded = new Set<Socket>();
  /** Every forwarded connection in the order it arrived: Warren opens its consume connection first. */
  readonly pairs: Array<{ client: Socket; upstream: Socket }> = [];
  /** Connections still forwarded before new ones are held; undefined: never hold. */
  #passBeforeHold: number | undefined;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<ControlledProxy> {
    let proxy!: ControlledProxy;
    const server = createServer((client) => {
      proxy.attempts++;
      if (proxy.refuse) {
        client.destroy();
        return;
      }
      if (proxy.#passBeforeHold !== undefined) {
        if (proxy.#passBeforeHold === 0) {
          proxy.held.push(client);
          return;
        }
        proxy.#passBeforeHold--;
      }
      proxy.#forward(client);
    });
    proxy = new ControlledProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  #forward(client: Socket): void {
    const upstream = connect(brokerPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.#forwarded.add(s);
      s.on('close', () => this.#forwarded.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    this.pairs.push({ client, upstream });
  }

  /** Stops passing the broker's bytes to the client of one connection: replies never arrive. */
  freeze(index: number): void {
    const pair = this.pairs[index]!;
    pair.upstream.unpipe(pair.client);
    pair.upstream.pause();
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Forward the next `n` connections, then hold every later one until `release()`. */
  holdAfter(n: number): void {
    this.#passBeforeHold = n;
  }

  /** Forward the held connections (their handshake resumes) and stop holding. */
  release(): void {
    this.#passBeforeHold = undefined;
    for (const client of this.held.splice(0)) this.#forward(client);
  }

  /** Destroys every forwarded connection now (held ones stay). */
  cut(): void {
    for (const s of this.#forwarded) s.destroy();
    this.#forwarded.clear();
  }

  async close(): Promise<void> {
    this.refuse = true;
    this.cut();
    for (const s of this.held.splice(0)) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

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
  let broker: TestBroker;
  let receiver: Receiver;
  let warren: RunningWarren | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
  });

  afterEach(async () => {
    await stopWarren(warren);
    warren = undefined;
    await receiver.close();
    await broker.close();
  });

  describe('mid-stream, through a proxy that cuts it', () => {
    let proxy: FaultProxy;

    beforeEach(async () => {
      proxy = await FaultProxy.start();
    });

    afterEach(async () => {
      await stopWarren(warren);
      await proxy.close();
    });

    it('delivers every published message at least once across cuts, and reports being down', async () => {
      const exchange = uniqueName('loss.x');
      const queue = uniqueName('loss');
      // A little work per request keeps deliveries in flight when the connection goes.
      receiver.responder = () => new Promise((resolve) => setTimeout(() => resolve(200), 2));
      warren = await startWarren(streamRoute(exchange, queue, receiver.url()), broker, { url: proxy.url() });
      const metricsText = async () => (await warren!.admin.request('/metrics')).text();
      const readyStatus = async () => (await warren!.admin.request('/readyz')).status;
      expect(await readyStatus()).toBe(200);
      expect(gauge(await metricsText(), 'warren_amqp_connected')).toBe(1);

      const total = 500;
      const published: string[] = [];
      const connectionsAtStart = proxy.connections;
      let cuts = 0;
      for (let i = 0; i < total; i++) {
        const id = `${queue}-${i}`;
        // Straight to the broker: publishing never goes through the proxy.
        await broker.publish(exchange, 'stream', JSON.stringify({ n: i }), { messageId: id });
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
            const res = await warren!.admin.request('/readyz');
            const body = (await res.json()) as { reasons: string[] };
            return res.status === 503 && body.reasons.some((r) => r.includes('not connected'));
          });
          await waitFor(
            'warren_amqp_connected to drop to 0',
            async () => gauge(await metricsText(), 'warren_amqp_connected') === 0,
          );
          proxy.refuse = false;
          await waitFor(
            '/readyz to answer 200 after reconnecting',
            async () => (await readyStatus()) === 200,
          );
          await waitFor(
            'warren_amqp_connected back at 1',
            async () => gauge(await metricsText(), 'warren_amqp_connected') === 1,
          );
        }
      }

      await waitFor(
        'every published message id at the receiver',
        () => {
          const ids = receiver.ids();
          return published.every((id) => ids.has(id));
        },
        30_000,
      );
      await waitFor(
        'the queue drained and acked',
        async () => (await broker.depth(queue)) === 0 && warren!.runtime.describe().routes[0]!.inFlight === 0,
      );
      // Each cut dropped a live session: a new consume and publish connection after each one.
      expect(proxy.connections - connectionsAtStart).toBeGreaterThanOrEqual(2 * cuts);
      expect(await broker.depth(`${queue}.dlq`)).toBe(0);
      expect(await readyStatus()).toBe(200);
      expect(gauge(await metricsText(), 'warren_amqp_connected')).toBe(1);
    });
  });

  describe('while reconnecting', () => {
    let proxy: ControlledProxy;
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);

    beforeEach(async () => {
      proxy = await ControlledProxy.start();
      uncaught.length = 0;
      process.on('uncaughtException', onUncaught);
    });

    afterEach(async () => {
      process.off('uncaughtException', onUncaught);
      await stopWarren(warren);
      await proxy.close();
    });

    it('survives the consume connection dropping while the publish connection still opens', async () => {
      const exchange = uniqueName('halfopen.x');
      const queue = uniqueName('halfopen');
      warren = await startWarren(streamRoute(exchange, queue, receiver.url()), broker, { url: proxy.url() });
      expect((await warren.admin.request('/readyz')).status).toBe(200);

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
        async () => (await warren!.admin.request('/readyz')).status === 200,
      );
      await broker.publish(exchange, 'stream', 'after the half-open session', {
        messageId: `${queue}-after`,
      });
      await waitFor('a delivery after reconnecting', () => receiver.ids().has(`${queue}-after`));
      expect(uncaught.map((e) => e.message)).toEqual([]);
    });
  });
});

describe('a delivery that finishes while its connection is closing', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let proxy: ControlledProxy;
  let warren: RunningWarren | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
    proxy = await ControlledProxy.start();
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
  });

  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await stopWarren(warren);
    warren = undefined;
    await proxy.close();
    await receiver.close();
    await broker.close();
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
    receiver.responder = (_req, n) => (n === 0 ? first : redelivery);
    warren = await startWarren(streamRoute(exchange, queue, receiver.url()), broker, { url: proxy.url() });
    expect(proxy.pairs).toHaveLength(2);
    const deliveries = () => warren!.logs.filter((l) => l.event === 'delivery' && l.id === id);

    await broker.publish(exchange, 'stream', 'in flight while closing', { messageId: id });
    await waitFor('the request at the receiver', () => receiver.requests.length === 1);
    // The publish connection dies; the session closes the consume connection too, whose close-ok
    // never arrives: its channel still counts as open, but the connection is closing.
    proxy.freeze(0);
    proxy.pairs[1]!.client.destroy();
    await waitFor('warren to notice the lost connection', () =>
      warren!.logs.some((l) => l.event === 'amqp_disconnected'),
    );
    answerFirst(200);
    await waitFor(
      'the first delivery settled (or a crash)',
      () => deliveries().length > 0 || unhandled.length > 0,
    );
    expect(unhandled.map(String)).toEqual([]);
    expect(deliveries()[0]!.outcome).toBe('abandoned');

    // The broker requeued it when the old connection went; the new session delivers it again.
    await waitFor('the redelivery', () => receiver.requests.length === 2);
    expect(receiver.requests[1]!.headers['webhook-id']).toBe(id);
    expect(receiver.requests[1]!.headers['x-warren-redelivered']).toBe('true');
    answerRedelivery(200);
    await waitFor('the redelivery settled', () => deliveries().length === 2);
    expect(deliveries()[1]!.outcome).toBe('ack');
    await waitFor('the queue empty', async () => (await broker.depth(queue)) === 0);
    expect(unhandled.map(String)).toEqual([]);
  });
});

describe('starting with no broker reachable', () => {
  let broker: TestBroker;
  let receiver: Receiver;
  let proxy: ControlledProxy;
  let child: ChildProcess | undefined;
  let routesDir: string | undefined;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
    proxy = await ControlledProxy.start();
  });

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    child = undefined;
    if (routesDir) await rm(routesDir, { recursive: true, force: true });
    routesDir = undefined;
    await proxy.close();
    await receiver.close();
    await broker.close();
  });

  it('says once which URL it tries and how to start RabbitMQ, retries, then connects', async () => {
    const queue = uniqueName('unreachable');
    routesDir = await mkdtemp(join(tmpdir(), 'warren-routes-'));
    await writeFile(
      join(routesDir, 'routes.yaml'),
      `
routes:
  late:
    from: { queue: ${queue} }
    to: { webhook: { url: "${receiver.url()}" } }
`,
    );
    const loaded = await loadConfig(routesDir, process.env);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    broker.track('queue', ...planTopology(loaded.config).routes.flatMap((r) => r.queues.map((q) => q.name)));

    proxy.refuse = true;
    const adminPort = await closedPort();
    // The real CLI: the hint is about a process that has never been connected.
    const cli = runCli(
      [
        'run',
        '--routes',
        routesDir,
        '--amqp',
        proxy.url(),
        '--admin-port',
        String(adminPort),
        '--drain-timeout',
        '5s',
      ],
      { WARREN_LOG_LEVEL: 'info' },
    );
    child = cli.child;
    const { lines, exited } = cli;

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
    await broker.publish('', queue, 'hello', { messageId: 'after-start' });
    await waitFor('the first delivery', () => receiver.ids().has('after-start'));

    cli.child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});
