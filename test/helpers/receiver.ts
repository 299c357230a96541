import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body as it came (an OTLP protobuf export is not text). */
  bytes: Buffer;
}

/** What the receiver answers to the n-th request (0-based); may delay or write the response itself. */
export type Responder = (
  req: ReceivedRequest,
  n: number,
  res: ServerResponse,
) => number | Promise<number> | 'handled';

/** A real HTTP server on loopback that records every request and answers as the test says. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  responder: Responder;
  readonly #server: Server;

  private constructor(server: Server, responder: Responder) {
    this.#server = server;
    this.responder = responder;
  }

  static async start(responder: Responder = () => 200, port = 0): Promise<Receiver> {
    let receiver!: Receiver;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const bytes = Buffer.concat(chunks);
        const record: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: bytes.toString(),
          bytes,
        };
        const n = receiver.requests.length;
        receiver.requests.push(record);
        try {
          const status = await receiver.responder(record, n, res);
          if (status === 'handled') return;
          res.statusCode = status;
          // An OTLP/HTTP protobuf export is answered as a collector answers it: an empty response
          // message (no partial success), which is no bytes at all.
          if (status < 400 && record.headers['content-type'] === 'application/x-protobuf') res.end();
          else res.end(status >= 400 ? `failure ${status}` : 'ok');
        } catch {
          res.destroy();
        }
      });
    });
    receiver = new Receiver(server, responder);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Distinct `webhook-id`s received. */
  ids(): Set<string> {
    return new Set(this.requests.map((r) => String(r.headers['webhook-id'])));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const r = await Receiver.start();
  const port = r.port;
  await r.close();
  return port;
}
