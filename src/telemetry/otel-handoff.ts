import { Worker } from 'node:worker_threads';
import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { encodeSpans, type WireSpans } from './otel-spans.js';

/**
 * The span exporter on Warren's event loop: it hands each batch, as plain data, to the export
 * thread (`otel-worker.ts`), where the OTLP exporter serialises and sends it. It sits behind the
 * SDK's BatchSpanProcessor, so batching, the queue limit (spans dropped with a counted warning), the
 * export timeout and the flush on shutdown stay the SDK's.
 *
 * A batch counts as exported once handed over while fewer than `window` batches are with the
 * thread: the processor, which exports one batch at a time, then goes on at once instead of waiting
 * for the collector's answer (the thread sends them side by side). With `window` batches there, the
 * next one waits for the oldest to leave, and the processor's queue, then its limit, takes the
 * overflow: never more than `window` batches beyond the queue. A batch that fails after it was
 * counted as exported is logged as the processor would have.
 */

/** Batches with the export thread before the processor has to wait. */
const window = 4;

export type ToExportThread =
  | { kind: 'export'; id: number; spans: WireSpans }
  | { kind: 'flush' | 'shutdown'; id: number };

export type FromExportThread =
  | { kind: 'done'; id: number; error?: string }
  | { kind: 'diag'; level: 'warn' | 'error'; message: string; detail: string };

function resultOf(error: string | undefined): ExportResult {
  return error === undefined
    ? { code: ExportResultCode.SUCCESS }
    : { code: ExportResultCode.FAILED, error: new Error(error) };
}

export class ExportThread implements SpanExporter {
  readonly #worker: Worker;
  /** Answers awaited from the thread, by request id: while any is, the thread keeps Warren alive. */
  readonly #pending = new Map<number, (error: string | undefined) => void>();
  #next = 0;
  /** Set by `shutdown`. */
  #closing = false;
  /** Why the thread is gone, once it is: every later export fails at once. */
  #gone: string | undefined;

  constructor(version: string) {
    // No flags of the parent's (a worker inherits them, and some are not for a worker).
    this.#worker = new Worker(new URL('./otel-worker.js', import.meta.url), {
      workerData: { version },
      execArgv: [],
    });
    this.#worker.unref();
    this.#worker.on('message', (m: FromExportThread) => {
      if (m.kind === 'diag') diag[m.level](m.message, m.detail);
      else this.#answer(m.id, m.error);
    });
    this.#worker.on('error', (err) => this.#stopped(`the export thread failed: ${err.message}`));
    this.#worker.on('exit', (code) => this.#stopped(`the export thread exited (code ${code})`));
  }

  /** Batches handed over and not answered yet. */
  #exporting = 0;
  /** The processor's callback for the batch that waits for a place in the window. */
  #waiting: ((error: undefined) => void) | undefined;

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    // Gone, which was said once (`#stopped`): the batch is dropped without a word, or an error line
    // a batch (the processor's own) would follow it.
    if (this.#gone !== undefined) {
      done({ code: ExportResultCode.SUCCESS });
      return;
    }
    let answered = false;
    const answer = (error: string | undefined): void => {
      if (answered) return;
      answered = true;
      if (this.#waiting === answer) this.#waiting = undefined;
      done(resultOf(error));
    };
    this.#exporting++;
    this.#ask({ kind: 'export', id: 0, spans: encodeSpans(spans) }, (error) => {
      this.#exporting--;
      const failure = this.#gone === undefined ? error : undefined; // else said by #stopped
      if (!answered) answer(failure);
      else if (failure !== undefined) diag.error(`span export failed: ${failure}`);
      this.#waiting?.(undefined);
    });
    if (this.#exporting < window) answer(undefined);
    else this.#waiting = answer;
  }

  forceFlush(): Promise<void> {
    return this.#request('flush');
  }

  async shutdown(): Promise<void> {
    // From here on the thread never keeps Warren alive: `stopTracing`'s deadline bounds the wait
    // for a collector that does not answer, as it would bound an export on the event loop.
    this.#closing = true;
    this.#worker.unref();
    try {
      await this.#request('shutdown');
    } finally {
      this.#gone ??= 'the export thread was shut down';
      await this.#worker.terminate();
    }
  }

  /**
   * Ends the export now: every batch still with the thread fails (which also ends the processor's
   * own timer for it, a timer that would otherwise keep Warren alive until the collector answered)
   * and the thread stops. What `stopTracing` does once its deadline has passed.
   */
  async abandon(): Promise<void> {
    this.#closing = true;
    if (this.#pending.size > 0) this.#stopped('the collector did not answer before the stop deadline');
    await this.#worker.terminate();
  }

  #request(kind: 'flush' | 'shutdown'): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#ask({ kind, id: 0 }, (error) => (error === undefined ? resolve() : reject(new Error(error)))),
    );
  }

  #ask(message: ToExportThread, answer: (error: string | undefined) => void): void {
    if (this.#gone !== undefined) {
      answer(this.#gone);
      return;
    }
    message.id = this.#next++;
    if (this.#pending.size === 0 && !this.#closing) this.#worker.ref();
    this.#pending.set(message.id, answer);
    this.#worker.postMessage(message);
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
