import { readFileSync } from 'node:fs';
import {
  type Attributes,
  type Context,
  DiagLogLevel,
  diag,
  type Tracer as OtelTracer,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { ExportThread } from './otel-handoff.js';
import type {
  ChildSpan,
  DeliveryFacts,
  DeliverySpan,
  RequestSpan,
  RequestTarget,
  Tracer,
} from './tracing.js';

/**
 * The OpenTelemetry SDK behind `tracing.ts`, imported only when tracing is on. Spans get their
 * parents explicitly (no context manager, no AsyncLocalStorage): a delivery's consumer span is made
 * from the message's traceparent, and its children from it.
 */

/** Warren's version, from the package.json above this file (src/ under vitest, dist/src/ built). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'warren' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** How long the same kind of SDK message stays unsaid after it was logged. */
const repeatQuietMs = 60_000;

/**
 * The SDK's own problems (an export that failed, spans dropped from a full queue, a bad setting) as
 * Warren log lines, each kind (its text without numbers) at most once a minute: a collector that is
 * down, or a queue that overflows, would otherwise write a line per batch.
 */
export function diagToLog(log: Logger): Parameters<typeof diag.setLogger>[0] {
  const said = new Map<string, number>();
  const line =
    (level: 'warn' | 'error') =>
    (text: string, ...args: unknown[]): void => {
      const message = errorMessageOf(text);
      const kind = message.replace(/\d+/g, 'N');
      const now = Date.now();
      if (now - (said.get(kind) ?? -repeatQuietMs) < repeatQuietMs) return;
      said.set(kind, now);
      log[level](
        { event: 'tracing', detail: args.map(String).join(' ') || undefined },
        `OpenTelemetry: ${message} (the same message is not logged again for a minute)`,
      );
    };
  const quiet = () => {};
  return { error: line('error'), warn: line('warn'), info: quiet, debug: quiet, verbose: quiet };
}

/**
 * The SDK's error handler writes an exception it catches (a batch that timed out, a failed export)
 * as JSON of all its properties, stack included: the line says its message.
 */
function errorMessageOf(text: string): string {
  if (!text.startsWith('{')) return text;
  try {
    const { message } = JSON.parse(text) as { message?: unknown };
    return typeof message === 'string' && message !== '' ? message : text;
  } catch {
    return text;
  }
}

function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${c.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** A valid traceparent (checked by `validTraceparent`) as the remote parent of a span. */
function remoteParent(traceparent: string): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
    isRemote: true,
  });
}

function failed(span: Span, error: string | undefined): void {
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
}

class Child implements ChildSpan {
  readonly traceparent: string;
  protected readonly span: Span;

  constructor(span: Span) {
    this.span = span;
    this.traceparent = traceparentOf(span);
  }

  end(error?: string): void {
    failed(this.span, error);
    this.span.end();
  }
}

class Request extends Child implements RequestSpan {
  endRequest(status: number, errorType?: string, message?: string): void {
    if (status > 0) this.span.setAttribute('http.response.status_code', status);
    if (errorType !== undefined) this.span.setAttribute('error.type', errorType);
    this.end(errorType === undefined ? undefined : (message ?? errorType));
  }
}

const rabbitmq = 'rabbitmq';

class Consumer implements DeliverySpan {
  readonly traceparent: string;
  readonly #tracer: OtelTracer;
  readonly #span: Span;
  /** The context this span's children are made in. */
  readonly #context: Context;

  constructor(tracer: OtelTracer, f: DeliveryFacts) {
    const attributes: Attributes = {
      'messaging.system': rabbitmq,
      'messaging.operation.type': 'process',
      'messaging.destination.name': f.queue,
      'messaging.rabbitmq.destination.routing_key': f.routingKey,
      'messaging.message.id': f.messageId,
      'messaging.message.body.size': f.bodySize,
      'warren.route': f.route,
      'warren.attempt': f.attempt,
      'warren.exchange': f.exchange,
    };
    const parent = f.parent === undefined ? ROOT_CONTEXT : remoteParent(f.parent);
    this.#tracer = tracer;
    this.#span = tracer.startSpan(`process ${f.queue}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    this.#context = trace.setSpan(ROOT_CONTEXT, this.#span);
    this.traceparent = traceparentOf(this.#span);
  }

  decided(decision: 'retry' | 'dead_letter', reason: string, queue: string): void {
    this.#span.addEvent(
      `warren.${decision}`,
      decision === 'retry'
        ? { 'warren.reason': reason, 'warren.retry.tier': queue }
        : { 'warren.reason': reason, 'warren.dead_letter.queue': queue },
    );
  }

  end(outcome: string, error: string | undefined): void {
    this.#span.setAttribute('warren.outcome', outcome);
    failed(this.#span, error);
    this.#span.end();
  }

  request(t: RequestTarget): RequestSpan {
    const attributes: Attributes = {
      'http.request.method': t.method,
      'url.full': t.url,
      'server.address': t.host,
      'server.port': t.port,
    };
    return new Request(
      this.#tracer.startSpan(t.method, { kind: SpanKind.CLIENT, attributes }, this.#context),
    );
  }

  publish(exchange: string, routingKey: string, messageId: string): ChildSpan {
    const destination = exchange === '' ? 'amq.default' : exchange;
    const attributes: Attributes = {
      'messaging.system': rabbitmq,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': destination,
      'messaging.rabbitmq.destination.routing_key': routingKey,
      'messaging.message.id': messageId,
    };
    const span = this.#tracer.startSpan(
      `publish ${destination}`,
      { kind: SpanKind.PRODUCER, attributes },
      this.#context,
    );
    return new Child(span);
  }

  plugin(name: string): ChildSpan {
    const attributes: Attributes = { 'warren.plugin': name };
    return new Child(
      this.#tracer.startSpan(`plugin ${name}`, { kind: SpanKind.INTERNAL, attributes }, this.#context),
    );
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
 * stayed full, and its flush on shutdown loop without end on the event loop: Warren never stopped.
 * A queue of 0 would drop every span without a word. Not a number at all, the SDK says so itself.
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

/**
 * A tracer exporting over OTLP/HTTP (JSON) in batches, serialised and sent by the export thread
 * (`otel-handoff.ts`). Resource (made there): `service.name` warren and `service.version` from
 * package.json, which `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` override; the SDK's own
 * attributes (`telemetry.sdk.*`) beside them.
 */
export function createTracer(log: Logger): Tracer {
  diag.disable(); // made again in one process (the bench): replace the logger without a warning
  diag.setLogger(diagToLog(log), DiagLogLevel.WARN);
  const version = packageVersion();
  const thread = new ExportThread(version);
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(thread, batchSizes(process.env))],
  });
  const tracer = provider.getTracer('warren', version);
  return {
    startDelivery: (facts) => new Consumer(tracer, facts),
    shutdown: async (deadlineMs) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      await Promise.race([provider.shutdown().catch(() => {}), deadline]);
      clearTimeout(timer);
      // Past the deadline the processor still waits for the batches with the thread, each with a
      // timer of its own (OTEL_BSP_EXPORT_TIMEOUT): they fail now, so nothing is left to hold a stop.
      await thread.abandon();
    },
  };
}
