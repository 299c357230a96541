import { Worker } from 'node:worker_threads';
import { diag } from '@opentelemetry/api';
import { DroppedSpans } from './otel-drops.js';
import { newRing, RingWriter, ringBytes } from './otel-ring.js';

/**
 * The export thread (`otel-worker.ts`) seen from Warren's event loop. The event loop writes each
 * span, as OTLP protobuf (`otel-proto.ts`), into a ring of shared memory (`otel-ring.ts`) that the
 * thread reads every 25 ms; there the SDK's BatchSpanProcessor batches them and the
 * OTLP/HTTP exporter sends them. So batching, the processor's queue limit, the export timeout and
 * the flush on shutdown are the SDK's, in the thread.
 *
 * The spans on their way to the thread are bounded too: when the ring is full (the thread is that
 * far behind), a span is dropped and counted, said once a minute, as the processor says its own.
 */

export type ToExportThread = { kind: 'shutdown'; id: number };

export type FromExportThread =
  | { kind: 'ready' }
  | { kind: 'done'; id: number; error?: string }
  | { kind: 'diag'; level: 'warn' | 'error'; message: string; detail: string };

export class ExportThread {
  readonly #worker: Worker;
  /** Answers awaited from the thread, by request id: while any is, the thread keeps Warren alive. */
  readonly #pending = new Map<number, (error: string | undefined) => void>();
  #next = 0;
  /** Set by `shutdown` and `abandon`. */
  #closing = false;
  /** Why the thread is gone, once it is: every later request fails at once. */
  #gone: string | undefined;
  readonly #ring: RingWriter;
  readonly #dropped = new DroppedSpans((line) => diag.warn(line), ringBytes / 1024 / 1024);
  /** Settled once the thread has loaded the SDK and the exporter, or failed to. */
  readonly ready: Promise<void>;
  #started = false;

  /** `version`: Warren's, for the resource and the instrumentation scope. */
  constructor(version: string) {
    const ring = newRing();
    this.#ring = new RingWriter(ring);
    // No flags of the parent's (a worker inherits them, and some are not for a worker).
    this.#worker = new Worker(new URL('./otel-worker.js', import.meta.url), {
      workerData: { version, ring },
      execArgv: [],
    });
    let loaded: () => void = () => {};
    let failed: (err: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      loaded = resolve;
      failed = reject;
    });
    // Held alive until it is ready (a start waits for that), then only while a request is open.
    this.ready.then(
      () => this.#pending.size === 0 && this.#worker.unref(),
      () => {}, // createTracer awaits it and says why
    );
    this.#worker.on('message', (m: FromExportThread) => {
      if (m.kind === 'diag') diag[m.level](m.message, m.detail);
      else if (m.kind === 'ready') {
        this.#started = true;
        loaded();
      } else this.#answer(m.id, m.error);
    });
    // Before it is ready, the start says why (createTracer throws), not a line here too.
    this.#worker.on('error', (err) => {
      if (!this.#started) this.#closing = true;
      failed(err);
      this.#stopped(`the export thread failed: ${err.message}`);
    });
    this.#worker.on('exit', (code) => {
      if (!this.#started) this.#closing = true;
      failed(new Error(`the export thread exited (code ${code}) before it was ready`));
      this.#stopped(`the export thread exited (code ${code})`);
    });
  }

  /** Hands a span's bytes (`bytes[0, length)`) over, or drops it (counted) when the ring is full. */
  put(bytes: Uint8Array, length: number): void {
    if (this.#gone !== undefined) return; // said once, by #stopped
    if (!this.#ring.put(bytes, length)) this.#dropped.add(length + 8 > ringBytes);
  }

  /** Exports everything the thread holds, then stops it. */
  async shutdown(): Promise<void> {
    // From here on the thread never keeps Warren alive: `stopTracing`'s deadline bounds the wait
    // for a collector that does not answer.
    this.#closing = true;
    this.#worker.unref();
    this.#dropped.flush();
    try {
      await this.#request();
    } finally {
      this.#gone ??= 'the export thread was shut down';
      await this.#worker.terminate();
    }
  }

  /**
   * Ends the export now: what the thread still holds is lost and it stops. What `stopTracing` does
   * once its deadline has passed.
   */
  async abandon(): Promise<void> {
    this.#closing = true;
    this.#dropped.flush();
    if (this.#pending.size > 0) this.#stopped('the collector did not answer before the stop deadline');
    await this.#worker.terminate();
  }

  #request(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#gone !== undefined) {
        reject(new Error(this.#gone));
        return;
      }
      const id = this.#next++;
      if (this.#pending.size === 0 && !this.#closing) this.#worker.ref();
      this.#pending.set(id, (error) => (error === undefined ? resolve() : reject(new Error(error))));
      this.#worker.postMessage({ kind: 'shutdown', id } satisfies ToExportThread);
    });
  }

  #answer(id: number, error: string | undefined): void {
    const answer = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    answer?.(error);
  }

  /** The thread is gone (failed, exited, or let go of at the deadline): said once, when unexpected. */
  #stopped(why: string): void {
    if (this.#gone === undefined) {
      this.#gone = why;
      if (!this.#closing || this.#pending.size > 0) diag.error(`${why}: spans are no longer exported`);
    }
    const answers = [...this.#pending.values()];
    this.#pending.clear();
    for (const answer of answers) answer(this.#gone);
  }
}
