import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * Issue 9 §7: prefetch counts messages, so 8 MB bodies through an envelope route once held
 * hundreds of MB. A route's `maxInFlightBytes` holds deliveries (unacked, at most prefetch) until
 * their bodies fit; one larger than the whole budget runs alone. Against the real broker and a
 * loopback receiver that counts the requests it is answering at once.
 */

const MB = 1_000_000;

interface Seen {
  id: string;
  attempt: string;
  redelivered: string;
  /** Requests open at the receiver when this one arrived, itself included. */
  concurrent: number;
  bytes: number;
}

/** A receiver that answers each request after `holdMs`, counting how many it holds at once, and
 * keeps no body (only its length): 20 envelopes of 8 MB must not fill the test's own memory. */
class CountingReceiver {
  readonly seen: Seen[] = [];
  open = 0;
  maxOpen = 0;
  status: (seen: Seen) => number = () => 200;
  holdMs: number;
  readonly #server: Server;

  constructor(holdMs: number) {
    this.holdMs = holdMs;
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      const seen: Seen = {
        id: String(req.headers['webhook-id']),
        attempt: String(req.headers['x-warren-attempt']),
        redelivered: String(req.headers['x-warren-redelivered']),
        concurrent: this.open,
        bytes: 0,
      };
      req.on('data', (chunk: Buffer) => {
        seen.bytes += chunk.length;
      });
      req.on('end', () => {
        setTimeout(() => {
          this.seen.push(seen);
          res.statusCode = this.status(seen);
          res.end();
        }, this.holdMs);
      });
      res.on('close', () => {
        this.open--;
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const routes = (exchange: string, queue: string, url: string, budget: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  big:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    prefetch: 10
    maxInFlightBytes: ${budget}
    retry: { attempts: 2, backoff: [200ms] }
    to: { webhook: { url: "${url}", body: envelope, timeout: 20s } }
`;

describe('in-flight byte budget', () => {
  const h = useHarness();
  let receiver: CountingReceiver;
  let url: string;
  beforeEach(async () => {
    receiver = new CountingReceiver(250);
    url = await receiver.listen();
  });
  afterEach(async () => {
    await receiver.close();
  });

  /** Publishes binary bodies (base64 in the envelope) of the given sizes, ids m-0, m-1, … */
  async function publish(exchange: string, sizes: number[]): Promise<string[]> {
    const ids = sizes.map((_, i) => `m-${i}`);
    sizes.forEach((size, i) => {
      h.broker.channel.publish(exchange, 'blob', randomBytes(size), {
        messageId: ids[i],
        persistent: true,
        contentType: 'application/octet-stream',
      });
    });
    await h.broker.channel.waitForConfirms();
    return ids;
  }

  it('keeps the bodies in flight under the budget, runs a larger message alone, and delivers each message once', async () => {
    const exchange = uniqueName('bytes');
    const queue = uniqueName('bytes.q');
    // Long enough that the second 8 MB delivery arrives while the first is held, even under load.
    receiver.holdMs = 1_000;
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, url, '20MB') }, h.broker);
    h.warren = warren;
    const route = () => warren.runtime.describe().routes[0]!;
    expect(route().byteBudget).toEqual({ maxInFlightBytes: 20 * MB, bytes: 0, deliveries: 0 });

    // Ten 8 MB bodies, one of 30 MB (more than the whole budget) in the middle, five more 8 MB.
    const sizes = [...Array(10).fill(8 * MB), 30 * MB, ...Array(5).fill(8 * MB)] as number[];
    let maxBytes = 0;
    const watch = setInterval(() => {
      const { bytes, deliveries } = route().byteBudget;
      if (deliveries > 1) maxBytes = Math.max(maxBytes, bytes);
    }, 5);
    const ids = await publish(exchange, sizes);
    await waitFor('every message delivered', () => receiver.seen.length >= sizes.length, 60_000);
    await waitFor('the queue drained and every delivery settled', async () => {
      const r = route();
      return r.inFlight === 0 && r.byteBudget.deliveries === 0 && (await h.broker.depth(queue)) === 0;
    });
    clearInterval(watch);

    // 8 MB bodies: two fit in 20 MB, a third does not. So the receiver saw two at once, never three.
    expect(receiver.maxOpen).toBe(2);
    expect(maxBytes).toBeLessThanOrEqual(20 * MB);
    // The 30 MB message was delivered, and alone.
    const large = receiver.seen.find((s) => s.id === 'm-10');
    expect(large?.bytes).toBeGreaterThan(40 * MB); // base64 in the envelope
    expect(large?.concurrent).toBe(1);
    // Held, not requeued: each message once, first attempt, never redelivered.
    expect(receiver.seen.map((s) => s.id).sort()).toEqual([...ids].sort());
    expect(receiver.seen.every((s) => s.attempt === '1' && s.redelivered === 'false')).toBe(true);
    const metrics = await (await warren.admin.request('/metrics')).text();
    expect(metrics).toContain('warren_in_flight_bytes{route="big"} 0');
    const held = /warren_byte_budget_held_seconds_total\{route="big"\} (\S+)/.exec(metrics);
    expect(Number(held?.[1])).toBeGreaterThan(0.5); // held while the 8 MB bodies queued up
  }, 120_000); // 176 MB through the broker and back: generous on a loaded machine

  it('releases the bytes of every outcome (ack, retry copy, dead letter) and takes a new budget on reload', async () => {
    const exchange = uniqueName('bytes');
    const queue = uniqueName('bytes.q');
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, url, '9MB') }, h.broker);
    h.warren = warren;
    const route = () => warren.runtime.describe().routes[0]!;
    // m-0..m-3: 503 on the first try (a retry copy), then 200; m-4, m-5: 200; m-6, m-7: 400 (dead letter).
    receiver.status = (s) => {
      const n = Number(s.id.slice(2));
      if (n >= 6) return 400;
      return n < 4 && s.attempt === '1' ? 503 : 200;
    };
    const ids = await publish(exchange, Array(8).fill(4 * MB) as number[]);
    // 4 MB bodies under 9 MB: two at once.
    await waitFor('the first requests', () => receiver.seen.length >= 2);
    expect(receiver.maxOpen).toBe(2);

    await writeFile(join(warren.dir, 'r.yaml'), routes(exchange, queue, url, '1GiB'));
    const report = await warren.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'big', change: 'handler', ok: true }]);
    expect(route().byteBudget.maxInFlightBytes).toBe(1024 ** 3);

    await waitFor('every attempt answered', () => receiver.seen.length >= ids.length + 4, 30_000);
    await waitFor('every delivery settled', async () => {
      const r = route();
      return r.inFlight === 0 && r.byteBudget.deliveries === 0 && (await h.broker.depth(queue)) === 0;
    });
    expect(route().byteBudget).toEqual({ maxInFlightBytes: 1024 ** 3, bytes: 0, deliveries: 0 });
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(2);
  });

  it('keeps the bytes of deliveries cut off by a lost connection counted until they settle, then releases them', async () => {
    const proxy = await h.proxy();
    const exchange = uniqueName('bytes');
    const queue = uniqueName('bytes.q');
    const warren = await startWarren({ 'r.yaml': routes(exchange, queue, url, '3MB') }, h.broker, {
      url: proxy.url(),
    });
    h.warren = warren;
    const route = () => warren.runtime.describe().routes[0]!;
    const ids = await publish(exchange, Array(10).fill(1 * MB) as number[]);
    await waitFor('three requests open', () => receiver.open === 3);
    proxy.cut(); // their channel is gone; their requests are still running at the receiver
    await waitFor('every message delivered', () => {
      const seen = new Set(receiver.seen.map((s) => s.id));
      return ids.every((id) => seen.has(id));
    });
    await waitFor('every delivery settled', async () => {
      const r = route();
      return r.state === 'consuming' && r.inFlight === 0 && (await h.broker.depth(queue)) === 0;
    });
    // The redeliveries waited for the cut-off deliveries' bytes: never more than 3 MB at once.
    expect(receiver.maxOpen).toBe(3);
    expect(receiver.seen.some((s) => s.redelivered === 'true')).toBe(true);
    expect(route().byteBudget).toEqual({ maxInFlightBytes: 3 * MB, bytes: 0, deliveries: 0 });
  });
});
