import {
  type Attributes,
  type AttributeValue,
  type Context,
  diag,
  type HrTime,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { getNumberFromEnv, getStringFromEnv, hrTime } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type RandomIdGenerator,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SpanProcessor,
  type TimedEvent,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';

/**
 * Warren's spans, made without the SDK's Tracer and Span: a profile put two thirds of what tracing
 * still cost the event loop (once the export had its own thread) in them — their self-observability
 * meter, the attributes sanitised then set one by one, the context lookups. These keep what the
 * SDK does for the spans Warren makes: its id generator, its samplers (`OTEL_TRACES_SAMPLER`,
 * `OTEL_TRACES_SAMPLER_ARG`, read as the SDK reads them), the span limits of the `OTEL_*LIMIT`
 * variables, and the SDK's BatchSpanProcessor, which takes them as the finished spans they are.
 */

/** The SDK's reading of `OTEL_TRACES_SAMPLER` (its `buildSamplerFromEnv`, not exported). */
export function samplerFromEnv(): Sampler {
  const name = getStringFromEnv('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const ratio = (): Sampler => {
    const p = getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG');
    if (p === undefined || p < 0 || p > 1) {
      diag.error(`OTEL_TRACES_SAMPLER_ARG=${p ?? ''} is blank or out of range ([0..1]), defaulting to 1.`);
      return new TraceIdRatioBasedSampler(1);
    }
    return new TraceIdRatioBasedSampler(p);
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'traceidratio':
      return ratio();
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      diag.error(`OTEL_TRACES_SAMPLER value "${name}" invalid, defaulting to "parentbased_always_on".`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The span limits, as the SDK reads them: the span variable, else the general one, else its default. */
function limit(span: string, general: string | undefined, fallback: number): number {
  return (
    getNumberFromEnv(span) ?? (general === undefined ? undefined : getNumberFromEnv(general)) ?? fallback
  );
}

export interface Limits {
  attributes: number;
  valueLength: number;
  events: number;
  attributesPerEvent: number;
}

export function limitsFromEnv(): Limits {
  return {
    attributes: limit('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT', 128),
    valueLength: limit(
      'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
      'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
      Infinity,
    ),
    events: limit('OTEL_SPAN_EVENT_COUNT_LIMIT', undefined, 128),
    attributesPerEvent: limit('OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT', undefined, 128),
  };
}

/** What every span of one tracer shares. */
export interface Recorder {
  readonly processor: SpanProcessor;
  readonly sampler: Sampler;
  readonly limits: Limits;
  readonly ids: RandomIdGenerator;
  readonly resource: ReadableSpan['resource'];
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
}

function truncated(value: AttributeValue, max: number): AttributeValue {
  if (typeof value === 'string') return value.length > max ? value.slice(0, max) : value;
  if (Array.isArray(value) && max !== Infinity)
    return value.map((v) =>
      typeof v === 'string' && v.length > max ? v.slice(0, max) : v,
    ) as AttributeValue;
  return value;
}

/** A span Warren made: recorded (and exported) only when sampled. */
export class WarrenSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  readonly attributes: Attributes = {};
  readonly links = [];
  readonly events: TimedEvent[] = [];
  ended = false;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;
  readonly #recorder: Recorder | undefined;
  #count = 0;

  /** `recorder` undefined: a span that is not recorded (sampled out), of which only the context counts. */
  constructor(
    recorder: Recorder | undefined,
    name: string,
    kind: SpanKind,
    context: SpanContext,
    parent: SpanContext | undefined,
    attributes: Attributes,
  ) {
    this.name = name;
    this.kind = kind;
    this.#context = context;
    this.#recorder = recorder;
    this.parentSpanContext = parent;
    this.startTime = recorder === undefined ? [0, 0] : hrTime();
    if (recorder !== undefined) for (const key in attributes) this.setAttribute(key, attributes[key]!);
  }

  get resource(): ReadableSpan['resource'] {
    return this.#recorder!.resource;
  }
  get instrumentationScope(): ReadableSpan['instrumentationScope'] {
    return this.#recorder!.instrumentationScope;
  }
  get duration(): HrTime {
    let s = this.endTime[0] - this.startTime[0];
    let ns = this.endTime[1] - this.startTime[1];
    if (ns < 0) {
      s -= 1;
      ns += 1e9;
    }
    return [s, ns];
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: AttributeValue): void {
    const r = this.#recorder;
    if (r === undefined || this.ended) return;
    if (!(key in this.attributes)) {
      if (this.#count >= r.limits.attributes) {
        this.droppedAttributesCount++;
        return;
      }
      this.#count++;
    }
    this.attributes[key] = truncated(value, r.limits.valueLength);
  }

  addEvent(name: string, attributes: Attributes): void {
    const r = this.#recorder;
    if (r === undefined || this.ended) return;
    if (this.events.length >= r.limits.events) {
      this.droppedEventsCount++;
      return;
    }
    const kept: Attributes = {};
    let n = 0;
    let dropped = 0;
    for (const key in attributes) {
      if (n++ < r.limits.attributesPerEvent) kept[key] = truncated(attributes[key]!, r.limits.valueLength);
      else dropped++;
    }
    this.events.push({ name, time: hrTime(), attributes: kept, droppedAttributesCount: dropped });
  }

  setStatus(status: SpanStatus): void {
    if (this.#recorder !== undefined && !this.ended) this.status = status;
  }

  end(): void {
    const r = this.#recorder;
    if (r === undefined || this.ended) return;
    this.endTime = hrTime();
    this.ended = true;
    r.processor.onEnd(this);
  }
}

/**
 * Starts a span under the span context `parent` holds (none: a new trace), as the SDK's Tracer
 * would: a new span id, the parent's trace id and trace state, the sampler's decision.
 */
export function startSpan(
  r: Recorder,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context,
): WarrenSpan {
  const p = trace.getSpanContext(parent);
  const valid = p !== undefined && trace.isSpanContextValid(p) ? p : undefined;
  const traceId = valid?.traceId ?? r.ids.generateTraceId();
  const sampled = r.sampler.shouldSample(parent, traceId, name, kind, attributes, []);
  const context: SpanContext = {
    traceId,
    spanId: r.ids.generateSpanId(),
    traceFlags:
      sampled.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
    traceState: sampled.traceState ?? valid?.traceState,
  };
  const recorded = sampled.decision === SamplingDecision.RECORD_AND_SAMPLED;
  const all = sampled.attributes === undefined ? attributes : { ...attributes, ...sampled.attributes };
  return new WarrenSpan(recorded ? r : undefined, name, kind, context, valid, all);
}
