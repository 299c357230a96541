import { type Context, ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { RandomIdGenerator, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { limitsFromEnv, type Recorder, samplerFromEnv, startSpan } from '../../src/telemetry/otel-span.js';

/** The variables these tests set, put back after each. */
const saved = new Map<string, string | undefined>();
function setEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    process.env[k] = v;
  }
}
afterEach(() => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  saved.clear();
});

/** A recorder whose processor keeps what ended, with the sampler and limits the environment gives. */
function recorder(): { r: Recorder; ended: ReadableSpan[] } {
  const ended: ReadableSpan[] = [];
  const processor: SpanProcessor = {
    onStart: () => {},
    onEnd: (span) => ended.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const r: Recorder = {
    processor,
    sampler: samplerFromEnv(),
    limits: limitsFromEnv(),
    ids: new RandomIdGenerator(),
    resource: { attributes: {} } as Recorder['resource'],
    instrumentationScope: { name: 'warren', version: '0' },
  };
  return { r, ended };
}

const parent = (flags: number): Context =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: flags,
    isRemote: true,
  });

describe("Warren's spans", () => {
  it('follow a sampled parent by default, in its trace, and end once', () => {
    const { r, ended } = recorder();
    const span = startSpan(
      r,
      'process q',
      SpanKind.CONSUMER,
      { 'warren.attempt': 1 },
      parent(TraceFlags.SAMPLED),
    );
    span.setAttribute('warren.outcome', 'ack');
    span.end();
    span.end();
    expect(ended).toHaveLength(1);
    expect(span.spanContext()).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', traceFlags: 1 });
    expect(span.parentSpanContext).toMatchObject({ spanId: 'b7ad6b7169203331', isRemote: true });
    expect(span.attributes).toEqual({ 'warren.attempt': 1, 'warren.outcome': 'ack' });
    expect(span.duration[0] >= 0 && span.duration[1] >= 0).toBe(true);
  });

  it('record nothing under a parent that says "not sampled", and start a new trace without one', () => {
    const { r, ended } = recorder();
    const unsampled = startSpan(r, 'process q', SpanKind.CONSUMER, {}, parent(TraceFlags.NONE));
    unsampled.end();
    expect(unsampled.spanContext().traceFlags).toBe(TraceFlags.NONE);
    const root = startSpan(r, 'process q', SpanKind.CONSUMER, {}, ROOT_CONTEXT);
    root.end();
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(ended).toEqual([root]);
  });

  it('take the sampler from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG', () => {
    setEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    const { r, ended } = recorder();
    // Not parent-based: a sampled parent does not matter, the ratio (0) decides.
    for (let i = 0; i < 20; i++) startSpan(r, 'p', SpanKind.CONSUMER, {}, parent(TraceFlags.SAMPLED)).end();
    expect(ended).toEqual([]);
    setEnv({ OTEL_TRACES_SAMPLER: 'always_on' });
    const on = recorder();
    startSpan(on.r, 'p', SpanKind.CONSUMER, {}, parent(TraceFlags.NONE)).end();
    expect(on.ended).toHaveLength(1);
  });

  it('keep to the span limits of the OTEL_ variables, counting what they drop', () => {
    setEnv({
      OTEL_ATTRIBUTE_COUNT_LIMIT: '2',
      OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4',
      OTEL_SPAN_EVENT_COUNT_LIMIT: '1',
      OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT: '1',
    });
    const { r } = recorder();
    const span = startSpan(r, 'p', SpanKind.CONSUMER, { a: 'abcdefgh', b: 2, c: 3 }, ROOT_CONTEXT);
    span.setAttribute('a', 'xyzxyz'); // replacing a kept attribute is not a new one
    span.addEvent('warren.retry', { 'warren.reason': 'HTTP 503', 'warren.retry.tier': 't' });
    span.addEvent('warren.dead_letter', {});
    expect(span.attributes).toEqual({ a: 'xyzx', b: 2 });
    expect(span.droppedAttributesCount).toBe(1);
    expect(span.events).toMatchObject([
      { name: 'warren.retry', attributes: { 'warren.reason': 'HTTP' }, droppedAttributesCount: 1 },
    ]);
    expect(span.droppedEventsCount).toBe(1);
  });
});
