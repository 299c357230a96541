import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * Finished spans as they cross from Warren's event loop to the export thread (`otel-worker.ts`):
 * one flat array of primitives per batch. Structured-cloning it costs a fraction of what cloning
 * the SDK's span objects would (their prototypes and closures do not clone at all), and the main
 * thread lets go of the spans as soon as the batch is posted.
 *
 * Per span, in order: name, kind, trace id, span id, trace flags, trace state (serialised or
 * undefined), parent span id (undefined for a root), parent is remote (or undefined), start [s, ns], end [s, ns],
 * status code, status message, dropped attributes, dropped events, dropped links, the attributes
 * (count, then key, value…), the events (count, then per event: name, time [s, ns], dropped
 * attributes, its attributes). Links are not carried: Warren's spans never have any.
 */
export type WireSpans = unknown[];

function pushAttributes(out: WireSpans, attributes: Attributes | undefined): void {
  if (attributes === undefined) {
    out.push(0);
    return;
  }
  const keys = Object.keys(attributes);
  out.push(keys.length);
  for (const key of keys) out.push(key, attributes[key]);
}

export function encodeSpans(spans: ReadableSpan[]): WireSpans {
  const out: WireSpans = [];
  for (const s of spans) pushSpan(out, s);
  return out;
}

function pushSpan(out: WireSpans, s: ReadableSpan): void {
  const c = s.spanContext();
  const p = s.parentSpanContext;
  out.push(
    s.name,
    s.kind,
    c.traceId,
    c.spanId,
    c.traceFlags,
    c.traceState?.serialize(),
    p?.spanId,
    p?.isRemote,
    s.startTime[0],
    s.startTime[1],
    s.endTime[0],
    s.endTime[1],
    s.status.code,
    s.status.message,
    s.droppedAttributesCount,
    s.droppedEventsCount,
    s.droppedLinksCount,
  );
  pushAttributes(out, s.attributes);
  out.push(s.events.length);
  for (const e of s.events) {
    out.push(e.name, e.time[0], e.time[1], e.droppedAttributesCount ?? 0);
    pushAttributes(out, e.attributes);
  }
}

/** Reads `encodeSpans`' array back, in order. */
class Reader {
  #at = 0;
  constructor(readonly data: WireSpans) {}
  get more(): boolean {
    return this.#at < this.data.length;
  }
  next<T>(): T {
    return this.data[this.#at++] as T;
  }
  time(): HrTime {
    return [this.next<number>(), this.next<number>()];
  }
  attributes(): Attributes {
    const attributes: Attributes = {};
    for (let n = this.next<number>(); n > 0; n--) attributes[this.next<string>()] = this.next();
    return attributes;
  }
}

/** A trace state as the OTLP transformer reads it: only its serialised form. */
function traceStateOf(serialised: string | undefined): SpanContext['traceState'] {
  return serialised === undefined
    ? undefined
    : ({ serialize: () => serialised } as SpanContext['traceState']);
}

function diff(end: HrTime, start: HrTime): HrTime {
  let s = end[0] - start[0];
  let ns = end[1] - start[1];
  if (ns < 0) {
    s -= 1;
    ns += 1e9;
  }
  return [s, ns];
}

/** The spans of `encodeSpans` as the exporter takes them, with the export thread's resource and scope. */
export function decodeSpans(
  data: WireSpans,
  resource: Resource,
  instrumentationScope: ReadableSpan['instrumentationScope'],
): ReadableSpan[] {
  const r = new Reader(data);
  const spans: ReadableSpan[] = [];
  while (r.more) {
    const name = r.next<string>();
    const kind = r.next<SpanKind>();
    const traceId = r.next<string>();
    const spanId = r.next<string>();
    const traceFlags = r.next<number>();
    const context: SpanContext = { traceId, spanId, traceFlags, traceState: traceStateOf(r.next()) };
    const parentSpanId = r.next<string | undefined>();
    const parentIsRemote = r.next<boolean | undefined>();
    const startTime = r.time();
    const endTime = r.time();
    const status = { code: r.next<SpanStatusCode>(), message: r.next<string | undefined>() };
    const droppedAttributesCount = r.next<number>();
    const droppedEventsCount = r.next<number>();
    const droppedLinksCount = r.next<number>();
    const attributes = r.attributes();
    const events: TimedEvent[] = [];
    for (let n = r.next<number>(); n > 0; n--)
      events.push({
        name: r.next<string>(),
        time: r.time(),
        droppedAttributesCount: r.next<number>(),
        attributes: r.attributes(),
      });
    spans.push({
      name,
      kind,
      spanContext: () => context,
      parentSpanContext:
        parentSpanId === undefined
          ? undefined
          : { traceId, spanId: parentSpanId, traceFlags, isRemote: parentIsRemote },
      startTime,
      endTime,
      status,
      attributes,
      links: [],
      events,
      duration: diff(endTime, startTime),
      ended: true,
      resource,
      instrumentationScope,
      droppedAttributesCount,
      droppedEventsCount,
      droppedLinksCount,
    });
  }
  return spans;
}
