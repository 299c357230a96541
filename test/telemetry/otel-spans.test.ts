import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { decodeSpans, encodeSpans } from '../../src/telemetry/otel-spans.js';

/** What the OTLP transformer reads of a span (the resource and scope are the export thread's). */
function exported(s: ReadableSpan) {
  const c = s.spanContext();
  return {
    name: s.name,
    kind: s.kind,
    context: {
      traceId: c.traceId,
      spanId: c.spanId,
      traceFlags: c.traceFlags,
      state: c.traceState?.serialize(),
    },
    parent: s.parentSpanContext && {
      spanId: s.parentSpanContext.spanId,
      isRemote: s.parentSpanContext.isRemote,
    },
    startTime: s.startTime,
    endTime: s.endTime,
    duration: s.duration,
    status: s.status,
    attributes: s.attributes,
    events: s.events.map((e) => ({ ...e, droppedAttributesCount: e.droppedAttributesCount ?? 0 })),
    dropped: [s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount],
    links: s.links,
  };
}

describe('spans handed to the export thread', () => {
  it('arrive as the exporter would have read them on the event loop', () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(memory)],
      spanLimits: { attributeCountLimit: 4 },
    });
    const tracer = provider.getTracer('warren', '1.2.3');
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
      traceState: new TraceState('vendor=opaque'),
    });
    const consumer = tracer.startSpan(
      'process q',
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'warren.attempt': 2, 'warren.route': 'r', 'a.list': ['x', 'y'] },
      },
      remote,
    );
    consumer.addEvent('warren.retry', { 'warren.reason': 'HTTP 503', 'warren.retry.tier': 'tier' });
    consumer.addEvent('bare');
    const client = tracer.startSpan('POST', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, consumer));
    client.setAttributes({ one: 1, two: true, three: 'three', four: 4.5, five: 'over the limit' });
    client.setStatus({ code: SpanStatusCode.ERROR, message: 'HTTP 503' });
    client.end();
    consumer.end();
    const spans = memory.getFinishedSpans();
    const resource = resourceFromAttributes({ 'service.name': 'there' });
    const scope = { name: 'warren', version: '1.2.3' };

    const decoded = decodeSpans(structuredClone(encodeSpans(spans)), resource, scope);

    expect(decoded.map(exported)).toEqual(spans.map(exported));
    expect(decoded.map((s) => s.droppedAttributesCount)).toEqual([1, 0]); // the limit was met
    expect(decoded[1]!.parentSpanContext?.isRemote).toBe(true);
    expect(decoded.every((s) => s.resource === resource && s.instrumentationScope === scope && s.ended)).toBe(
      true,
    );
  });

  it('hand over nothing for an empty batch', () => {
    expect(encodeSpans([])).toEqual([]);
    expect(decodeSpans([], resourceFromAttributes({}), { name: 'warren' })).toEqual([]);
  });
});
