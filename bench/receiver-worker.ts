/**
 * The webhook receiver, in its own thread so its work never shares the measured event loop:
 * counts requests (after reading each body) and answers 200 at once. Talks to the main thread
 * with small messages; timestamps are process.hrtime (one monotonic clock for all threads).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort } from 'node:worker_threads';

export type ToWorker = { type: 'expect'; count: number } | { type: 'progress' } | { type: 'close' };
export type FromWorker =
  | { type: 'listening'; port: number }
  | { type: 'first' }
  | { type: 'done'; firstNs: bigint; lastNs: bigint; received: number }
  | { type: 'progress'; received: number; bad: number };

const port = parentPort!;
let received = 0;
let bad = 0;
let expected = Number.POSITIVE_INFINITY;
let firstNs = 0n;

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    if (req.method !== 'POST') bad++;
    received++;
    if (received === 1) {
      firstNs = process.hrtime.bigint();
      port.postMessage({ type: 'first' } satisfies FromWorker);
    }
    res.writeHead(200, { 'content-length': '0' });
    res.end();
    if (received === expected) {
      port.postMessage({
        type: 'done',
        firstNs,
        lastNs: process.hrtime.bigint(),
        received,
      } satisfies FromWorker);
    }
  });
});
// Idle keep-alive connections survive the pauses between runs (no reset racing a request).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'expect') {
    received = 0;
    bad = 0;
    firstNs = 0n;
    expected = msg.count;
  } else if (msg.type === 'progress') {
    port.postMessage({ type: 'progress', received, bad } satisfies FromWorker);
  } else {
    server.closeAllConnections();
    server.close(() => port.close());
  }
});

server.listen(0, '127.0.0.1', () => {
  port.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies FromWorker);
});
