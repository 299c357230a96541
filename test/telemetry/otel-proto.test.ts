import { type AttributeValue, type HrTime, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  type IdGenerator,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limited } from '../../src/telemetry/otel.js';
import {
  type AttributeList,
  attributeList,
  defaultLimits,
  exportRequest,
  fixedAttributes,
  ProtoWriter,
  type SpanData,
  type SpanLimits,
  writeResourceField,
  writeScopeField,
  writeSpan,
} from '../../src/telemetry/otel-proto.js';

/**
 * Warren writes its spans' OTLP protobuf itself (`otel-proto.ts`); these tests hold it to the
 * SDK: the same facts made into spans by the SDK's own tracer (ids, times, limits, attributes,
 * events, status) and serialised by the SDK's `ProtobufTraceSerializer` give the same bytes.
 */

class GivenIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId(): string {
    return this.traceId;
  }
  generateSpanId(): string {
    return this.spanId;
  }
}

interface Facts {
  traceId: string;
  spanId: string;
  parent: { spanId: string; remote: boolean } | undefined;
  name: string;
  kind: SpanKind;
  start: HrTime;
  durationNs: number;
  /** The first `fixed` attributes are written once, as Warren writes a route's. */
  attributes: AttributeList;
  fixed: number;
  events: Array<{ name: string; attributes: AttributeList; afterNs: number }>;
  error: string | undefined;
}

const hexId = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .filter((b) => b.some((x) => x !== 0))
    .map((b) => Buffer.from(b).toString('hex'));

/** Strings of every kind: ASCII, long, non-ASCII, lone surrogates (the SDK writes them as U+FFFD). */
const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ minLength: 120, maxLength: 300 }),
);

const value: fc.Arbitrary<AttributeValue> = fc.oneof(
  text,
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(
    2 ** 53,
    -(2 ** 62),
    2 ** 63,
    -(2 ** 63),
    0.5,
    -1e-300,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ),
  fc.double(),
  fc.array(text, { maxLength: 3 }),
  fc.array(fc.integer(), { maxLength: 3 }),
);

/** Keys that are no array index: an object keeps them in the order they were set. */
const key = fc.string({ minLength: 1, maxLength: 30 }).map((k) => `k.${k}`);

const attributes = fc
  .uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 14 })
  .map((pairs) => pairs.flat() as AttributeList);

const facts: fc.Arbitrary<Facts> = fc.record({
  traceId: hexId(16),
  spanId: hexId(8),
  parent: fc.option(fc.record({ spanId: hexId(8), remote: fc.boolean() }), { nil: undefined }),
  name: text,
  kind: fc.constantFrom(
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
  ),
  start: fc.tuple(fc.integer({ min: 0, max: 2 ** 34 }), fc.integer({ min: 0, max: 999_999_999 })),
  durationNs: fc.integer({ min: 0, max: 10 ** 9 }),
  attributes,
  fixed: fc.nat(8),
  events: fc.array(fc.record({ name: text, attributes, afterNs: fc.integer({ min: 0, max: 999_999 }) }), {
    maxLength: 4,
  }),
  error: fc.option(text, { nil: undefined }),
});

const limits: fc.Arbitrary<SpanLimits> = fc.oneof(
  fc.constant(defaultLimits),
  fc.record({
    attributeCountLimit: fc.integer({ min: 0, max: 10 }),
    attributeValueLengthLimit: fc.oneof(
      fc.integer({ min: 1, max: 40 }),
      fc.constant(Number.POSITIVE_INFINITY),
    ),
    eventCountLimit: fc.integer({ min: 0, max: 4 }),
    attributePerEventCountLimit: fc.integer({ min: 0, max: 5 }),
  }),
);

function later(t: HrTime, ns: number): HrTime {
  const total = t[1] + ns;
  return [t[0] + Math.floor(total / 1e9), total % 1e9];
}

function object(list: AttributeList): Record<string, AttributeValue> {
  const o: Record<string, AttributeValue> = {};
  for (let i = 0; i < list.length; i += 2) o[list[i] as string] = list[i + 1] as AttributeValue;
  return o;
}

const resource = resourceFromAttributes({ 'service.name': 'warren', 'service.version': '1.2.3', n: 7 });

/** The SDK's bytes for these spans, made by its tracer with these limits. */
function sdkBytes(all: Facts[], l: SpanLimits): Uint8Array {
  const ids = new GivenIds();
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource,
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanLimits: { ...l },
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('warren', '1.2.3');
  for (const f of all) {
    ids.traceId = f.traceId;
    ids.spanId = f.spanId;
    const parent =
      f.parent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: f.traceId,
            spanId: f.parent.spanId,
            traceFlags: 1,
            isRemote: f.parent.remote,
          });
    const span = tracer.startSpan(f.name, { kind: f.kind, startTime: f.start }, parent);
    span.setAttributes(object(f.attributes));
    for (const e of f.events) span.addEvent(e.name, object(e.attributes), later(f.start, e.afterNs));
    if (f.error !== undefined) span.setStatus({ code: 2, message: f.error });
    span.end(later(f.start, f.durationNs));
  }
  return ProtobufTraceSerializer.serializeRequest(memory.getFinishedSpans())!;
}

/** Warren's bytes for the same spans. */
function warrenBytes(all: Facts[], l: SpanLimits): Uint8Array {
  const spans = all.map((f) => {
    const w = new ProtoWriter(64);
    const data: SpanData = {
      traceId: f.traceId,
      spanId: f.spanId,
      parentSpanId: f.parent?.spanId,
      parentRemote: f.parent?.remote ?? false,
      traceFlags: 1,
      name: f.name,
      kind: f.kind,
      start: f.start,
      end: later(f.start, f.durationNs),
      fixed: f.fixed > 0 ? fixedAttributes(f.attributes.slice(0, 2 * f.fixed)) : undefined,
      attributes: f.fixed > 0 ? f.attributes.slice(2 * f.fixed) : f.attributes,
      droppedAttributesCount: 0,
      events: f.events.map((e) => ({
        name: e.name,
        time: later(f.start, e.afterNs),
        attributes: e.attributes,
        droppedAttributesCount: 0,
      })),
      droppedEventsCount: 0,
      status: f.error === undefined ? { code: 0 } : { code: 2, message: f.error },
    };
    writeSpan(w, limited(data, l));
    return w.buf.subarray(0, w.pos);
  });
  const head = new ProtoWriter(256);
  writeResourceField(head, resource.attributes);
  const end = head.pos;
  writeScopeField(head, 'warren', '1.2.3');
  return exportRequest(head.buf.subarray(0, end), head.buf.subarray(end, head.pos), spans);
}

describe('the OTLP protobuf Warren writes', () => {
  it('is, byte for byte, what the SDK writes for the same spans', () => {
    fc.assert(
      fc.property(fc.array(facts, { minLength: 1, maxLength: 5 }), limits, (all, l) => {
        expect(Buffer.from(warrenBytes(all, l)).toString('hex')).toBe(
          Buffer.from(sdkBytes(all, l)).toString('hex'),
        );
      }),
      { seed: 1212, numRuns: 400 },
    );
  });

  it('is the SDK bytes for a span larger than 16 KiB, whose lengths take three bytes', () => {
    const big: Facts = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parent: { spanId: '00f067aa0ba902b7', remote: true },
      name: 'process q',
      kind: SpanKind.CONSUMER,
      start: [1_800_000_000, 5],
      durationNs: 1_500_000,
      attributes: ['k.reason', 'é'.repeat(20_000), 'k.n', -5],
      fixed: 1,
      events: [{ name: 'warren.retry', attributes: ['k.why', 'x'.repeat(200)], afterNs: 10 }],
      error: 'failed',
    };
    expect(
      Buffer.from(warrenBytes([big], defaultLimits)).equals(Buffer.from(sdkBytes([big], defaultLimits))),
    ).toBe(true);
  });

  it('lists an attributes object in the order the SDK walks it', () => {
    expect(attributeList({ b: 1, a: 'x', 2: true })).toEqual(['2', true, 'b', 1, 'a', 'x']);
  });
});
