// Loaded now, not by the exporter's first request while deliveries run (it imports them lazily).
import 'node:http';
import 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { DiagLogLevel, diag, type SpanContext, TraceFlags } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FromExportThread, ToExportThread } from './otel-handoff.js';
import { exportRequest, ProtoWriter, writeResourceField, writeScopeField } from './otel-proto.js';
import { type RingMemory, RingReader } from './otel-ring.js';

/**
 * The export thread (`otel-handoff.ts` starts it). Warren's event loop writes each span, as OTLP
 * protobuf (`otel-proto.ts`), into a ring of shared memory (`otel-ring.ts`) that this thread reads
 * every 25 ms.
 * Here the SDK's BatchSpanProcessor batches them (its `OTEL_BSP_*` sizes, delay, queue limit and
 * export timeout) and the OTLP/HTTP exporter of `@opentelemetry/otlp-exporter-base` sends them (its
 * `OTEL_EXPORTER_OTLP_*` endpoint, headers, timeout, compression, certificates and retries), the
 * request being the resource and scope written once around the spans of the batch. The resource
 * detector reads `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`. Each reads this thread's copy
 * of the environment, taken when Warren started it.
 */

const port = parentPort!;
const { version, ring } = workerData as { version: string; ring: RingMemory };

function post(message: FromExportThread): void {
  port.postMessage(message);
}

/** The SDK's own warnings and errors go to Warren's log, on the main thread. */
function forward(level: 'warn' | 'error') {
  return (message: string, ...args: unknown[]): void =>
    post({ kind: 'diag', level, message, detail: args.map(String).join(' ') });
}
const quiet = () => {};
diag.setLogger(
  { error: forward('error'), warn: forward('warn'), info: quiet, debug: quiet, verbose: quiet },
  DiagLogLevel.WARN,
);

/** Batches with the collector at once before the processor has to wait. */
const window = 4;

/**
 * The OTLP exporter with up to `window` batches in flight. The processor exports one batch at a
 * time and waits for the collector's answer before the next: at 20,000 spans a second and a
 * collector a few milliseconds away, its queue would fill and drop spans. A batch counts as
 * exported once sent while fewer than `window` are with the collector; with `window` there, the
 * next waits for the oldest to be answered, and the processor's queue, then its limit, takes the
 * overflow. A batch that fails after it was counted is logged as the processor would have.
 */
class Windowed implements SpanExporter {
  #sending = 0;
  #waiting: (() => void) | undefined;
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let answered = false;
    const answer = (result: ExportResult): void => {
      if (answered) return;
      answered = true;
      if (this.#waiting === next) this.#waiting = undefined;
      done(result);
    };
    const next = (): void => answer({ code: ExportResultCode.SUCCESS });
    this.#sending++;
    this.inner.export(spans, (result) => {
      this.#sending--;
      if (!answered) answer(result);
      else if (result.code !== ExportResultCode.SUCCESS)
        diag.error(`span export failed: ${result.error?.message ?? 'no reason given'}`);
      this.#waiting?.();
    });
    if (this.#sending < window) next();
    else this.#waiting = next;
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

const batchDefaults = [
  ['maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE', 2048],
  ['maxExportBatchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512],
] as const;

/**
 * The batch processor's sizes where the environment gives a number that is not a positive whole
 * one: the default instead, said in a warning. The SDK takes any number, and a batch size below 1
 * (0, negative, 0.5) made its processor hand empty batches over in a loop for ever while the queue
 * stayed full, and its flush on shutdown loop without end: Warren never stopped. A queue of 0 would
 * drop every span without a word. Not a number at all, the SDK says so itself.
 */
function batchSizes(env: NodeJS.ProcessEnv): { maxQueueSize?: number; maxExportBatchSize?: number } {
  const sizes: { maxQueueSize?: number; maxExportBatchSize?: number } = {};
  for (const [key, name, fallback] of batchDefaults) {
    const raw = env[name]?.trim() ?? '';
    const n = Number(raw);
    if (raw === '' || Number.isNaN(n) || (Number.isInteger(n) && n > 0)) continue;
    diag.warn(`${name}=${raw} is not a positive whole number: ${fallback} is used`);
    sizes[key] = fallback;
  }
  return sizes;
}

const resource = defaultResource()
  .merge(resourceFromAttributes({ 'service.name': 'warren', 'service.version': version }))
  .merge(detectResources({ detectors: [envDetector] }));

/** The resource's and the scope's fields, written once for every request. */
const [resourceField, scopeField] = (() => {
  const w = new ProtoWriter(1024);
  writeResourceField(w, resource.attributes);
  const end = w.pos;
  writeScopeField(w, 'warren', version);
  return [w.buf.subarray(0, end), w.buf.subarray(end, w.pos)];
})();

const sampled: SpanContext = { traceId: '', spanId: '', traceFlags: TraceFlags.SAMPLED };

/**
 * One span as the batch processor holds it: its bytes. The processor reads only whether it is
 * sampled (every span that reaches this thread is) and its resource.
 */
class EncodedSpan {
  constructor(readonly bytes: Uint8Array) {}
  spanContext(): SpanContext {
    return sampled;
  }
  get resource(): typeof resource {
    return resource;
  }
}

const serializer = {
  serializeRequest: (spans: EncodedSpan[]): Uint8Array =>
    exportRequest(
      resourceField,
      scopeField,
      spans.map((s) => s.bytes),
      resource.schemaUrl,
    ),
  deserializeResponse: ProtobufTraceSerializer.deserializeResponse,
};

// The SDK's types say ReadableSpan[] where this serialiser takes the processor's EncodedSpans.
const exporter: SpanExporter = new OTLPExporterBase(
  createOtlpHttpExportDelegate(
    convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
    serializer as unknown as typeof ProtobufTraceSerializer,
    'otlp_http_span_exporter',
    TraceExporterMetricsHelper,
    undefined,
  ),
);
const processor = new BatchSpanProcessor(new Windowed(exporter), batchSizes(process.env));

function settled(id: number, work: Promise<void>): void {
  work.then(
    () => post({ kind: 'done', id }),
    (err: unknown) => post({ kind: 'done', id, error: String((err as Error)?.message ?? err) }),
  );
}

const reader = new RingReader(ring);
const takeSpan = (bytes: Uint8Array): void =>
  processor.onEnd(new EncodedSpan(bytes) as unknown as ReadableSpan);

/** Every span written so far, to the processor. */
function take(): void {
  reader.take(takeSpan);
}

/** How often the ring is read: a span waits at most this long before the processor has it. */
const readEveryMs = 25;
setInterval(take, readEveryMs);

port.on('message', (m: ToExportThread) => {
  take();
  settled(m.id, processor.shutdown());
});

// Loaded: Warren's start waits for this, so the first spans find the exporter here.
post({ kind: 'ready' });
