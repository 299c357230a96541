import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { amqpUrl } from './broker.js';

const brokerPort = Number(new URL(amqpUrl).port || 5672);

/**
 * A TCP proxy between Warren and the broker that a test can break the way networks break: cut
 * every open connection, refuse new ones (a broker not up yet), hold them unanswered
 * mid-handshake, or stop passing the broker's replies on one of them.
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #forwarded = new Set<Socket>();
  /** While set, new connections are dropped at once. */
  refuse = false;
  /** Every connection attempt, refused and held ones included. */
  attempts = 0;
  /** Connections forwarded to the broker. */
  connections = 0;
  readonly held: Socket[] = [];
  /** Every forwarded connection in the order it arrived: Warren opens its consume connection first. */
  readonly pairs: Array<{ client: Socket; upstream: Socket }> = [];
  /** Connections still forwarded before new ones are held; undefined: never hold. */
  #passBeforeHold: number | undefined;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<FaultProxy> {
    let proxy!: FaultProxy;
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
    proxy = new FaultProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  #forward(client: Socket): void {
    this.connections++;
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

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Stops passing the broker's bytes to the client of one connection: replies never arrive. */
  freeze(index: number): void {
    const pair = this.pairs[index]!;
    pair.upstream.unpipe(pair.client);
    pair.upstream.pause();
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

  /** Destroys every forwarded connection now, as a network failure would (held ones stay). */
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
