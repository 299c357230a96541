import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './receiver-worker.js';

export interface DrainTiming {
  /** hrtime of the first request received. */
  firstNs: bigint;
  /** hrtime of the request that made the count reach the expected number. */
  lastNs: bigint;
  received: number;
}

/** Main-thread handle on the receiver thread. */
export class Receiver {
  readonly port: number;
  readonly #worker: Worker;
  #onDone: ((t: DrainTiming) => void) | undefined;
  #onFirst: (() => void) | undefined;
  #onProgress: ((p: { received: number; bad: number }) => void) | undefined;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.port = port;
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'done') this.#onDone?.(msg);
      else if (msg.type === 'first') this.#onFirst?.();
      else if (msg.type === 'progress') this.#onProgress?.(msg);
    });
  }

  static async start(): Promise<Receiver> {
    const worker = new Worker(new URL('./receiver-worker.js', import.meta.url));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (msg: FromWorker) => {
        if (msg.type === 'listening') resolve(msg.port);
        else reject(new Error(`receiver: unexpected ${msg.type}`));
      });
    });
    return new Receiver(worker, port);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  #send(msg: ToWorker): void {
    this.#worker.postMessage(msg);
  }

  /** Resets the count; the promise settles when `count` requests arrived, or rejects on timeout.
   * `onFirst` runs (a little late: one thread hop) when the first request arrived. */
  expect(count: number, timeoutMs: number, onFirst?: () => void): Promise<DrainTiming> {
    this.#onFirst = onFirst;
    this.#send({ type: 'expect', count });
    return new Promise<DrainTiming>((resolve, reject) => {
      const timer = setTimeout(async () => {
        const p = await this.progress();
        this.#onDone = undefined;
        reject(new Error(`receiver got ${p.received} of ${count} requests within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#onDone = (t) => {
        clearTimeout(timer);
        this.#onDone = undefined;
        resolve(t);
      };
    });
  }

  progress(): Promise<{ received: number; bad: number }> {
    return new Promise((resolve) => {
      this.#onProgress = resolve;
      this.#send({ type: 'progress' });
    });
  }

  async close(): Promise<void> {
    this.#send({ type: 'close' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.#worker.terminate().then(() => resolve()), 2_000);
      this.#worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
