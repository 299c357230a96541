import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between Warren and the broker that a test can cut: every open connection is
 * destroyed (as a network failure would) and, while `refuse` is set, new ones are dropped.
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  refuse = false;
  connections = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(targetPort = 5672, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => {
      if (proxy.refuse) {
        client.destroy();
        return;
      }
      proxy.connections++;
      const upstream = connect(targetPort, targetHost);
      for (const s of [client, upstream]) {
        proxy.#sockets.add(s);
        s.on('close', () => proxy.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    proxy = new FaultProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Destroys every connection through the proxy now. */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.refuse = true;
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
