import { type Context, type HrTime, ROOT_CONTEXT, type SpanKind, trace } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { type Sampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { defaultSampler, limited } from './otel-config.js';
import type { ExportThread } from './otel-handoff.js';
import { ProtoWriter, type SpanData, type SpanLimits, writeSpan } from './otel-proto.js';

/** The parent a sampler sees for a span whose parent is the message's traceparent. */
function remoteParent(traceparent: string): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
    isRemote: true,
  });
}

const noAttributes = Object.freeze({});
const noLinks: [] = [];

const scratchBytes = 4096;
const scratchMax = 64 * 1024;

/**
 * The clocks a span is timed by, as the SDK times its own: it starts at the wall clock's now
 * (`Date.now()`), and what follows (its end, its events) is that start plus the monotonic clock's
 * time since (`performance.now()`), so a span lines up with other services' and a step of the wall
 * clock never makes one negative.
 */
export interface Clock {
  wallMs(): number;
  perfMs(): number;
}

export const systemClock: Clock = { wallMs: () => Date.now(), perfMs: () => performance.now() };

/** A span's start: the wall clock's millisecond and the monotonic clock's, read together. */
export class SpanClock {
  readonly wall: number;
  readonly perf: number;
  constructor(clock: Clock) {
    this.wall = clock.wallMs();
    this.perf = clock.perfMs();
  }
  start(): HrTime {
    return millisToHrTime(this.wall);
  }
  /**
   * The time `perf` (the monotonic clock's) as the SDK would stamp it on this span: its
   * `addHrTimes(millisToHrTime(wall), millisToHrTime(perf - this.perf))`, in one array.
   */
  at(perf: number): HrTime {
    const since = perf - this.perf;
    let seconds = Math.trunc(this.wall / 1000) + Math.trunc(since / 1000);
    let nanos = Math.round((this.wall % 1000) * 1e6) + Math.round((since % 1000) * 1e6);
    if (nanos >= 1e9) {
      seconds += 1;
      nanos -= 1e9;
    }
    return [seconds, nanos];
  }
}

/**
 * Where spans are written as they end, as OTLP protobuf, and handed to the export thread; the
 * sampler that decides which are recorded, the limits they are cut to, and the clock.
 */
export class Recorder {
  /** Each span is written here, then copied into the ring: the writer is used again. */
  #w = new ProtoWriter(scratchBytes);

  constructor(
    private readonly thread: Pick<ExportThread, 'put'>,
    private readonly sampler: Sampler,
    readonly limits: SpanLimits,
    readonly clock: Clock,
  ) {}

  /**
   * Whether a span is sampled. `parentSampled`: the parent's sampled flag, undefined for a new
   * trace; `parent`: the delivery's span, or the message's traceparent, made the context a sampler
   * sees only when a sampler other than the default asks.
   */
  sampled(
    parentSampled: boolean | undefined,
    parent: { context(): Context } | string | undefined,
    traceId: string,
    name: string,
    kind: SpanKind,
  ): boolean {
    // parentbased_always_on, the default: the parent's decision, or yes for a new trace.
    if (this.sampler === defaultSampler) return parentSampled ?? true;
    const context =
      parent === undefined
        ? ROOT_CONTEXT
        : typeof parent === 'string'
          ? remoteParent(parent)
          : parent.context();
    return (
      this.sampler.shouldSample(context, traceId, name, kind, noAttributes, noLinks).decision ===
      SamplingDecision.RECORD_AND_SAMPLED
    );
  }

  /** Writes an ended span, and hands it to the export thread. */
  write(span: SpanData): void {
    const w = this.#w;
    w.pos = 0;
    writeSpan(w, limited(span, this.limits));
    this.thread.put(w.buf, w.pos);
    // A span of a huge attribute (a plugin's routing key) grew the writer: it does not stay that big.
    if (w.buf.length > scratchMax) this.#w = new ProtoWriter(scratchBytes);
  }
}
