import type { Attributes, AttributeValue, HrTime, SpanKind } from '@opentelemetry/api';
import { ProtoWriter, varintBytes } from './protobuf.js';

export { ProtoWriter } from './protobuf.js';

/**
 * Attributes as a flat list, key then value, in order: walked by index, where an object's keys
 * would cost a lookup each by a key the engine cannot predict.
 */
export type AttributeList = Array<string | AttributeValue>;

/** An attributes object as a list, in the order the SDK's serialiser walks it (`for…in`). */
export function attributeList(attributes: Attributes | undefined): AttributeList {
  const list: AttributeList = [];
  for (const key in attributes)
    if (Object.hasOwn(attributes, key)) list.push(key, attributes[key] as AttributeValue);
  return list;
}

/**
 * OTLP protobuf for Warren's spans, written as each span ends, byte for byte what the SDK's own
 * serialiser (`ProtobufTraceSerializer` of `@opentelemetry/otlp-transformer`) writes for the same
 * span: the same fields in the same order, the same defaults left out, the same varints. A
 * property test holds the two to that (`test/telemetry/otel-proto.test.ts`).
 *
 * Why not the SDK's spans and serialiser: with every span exported they cost several times what
 * the delivery itself costs (a profile put ~8 µs a span in span objects and their garbage, ~6 µs in
 * the serialiser's two passes over them), and on two cores shared with the broker that was a quarter
 * of the throughput. Written here, a span is one pass over its facts into a buffer that the export
 * thread takes without a copy.
 */

/** A finished span, as Warren records it: the fields of OTLP's `Span` it uses. */
export interface SpanData {
  traceId: string;
  spanId: string;
  /** Undefined for a new trace. */
  parentSpanId: string | undefined;
  /** Whether the parent came from another process (the message's traceparent). */
  parentRemote: boolean;
  traceFlags: number;
  name: string;
  kind: SpanKind;
  start: HrTime;
  end: HrTime;
  /** Attributes before `attributes`, written already (or undefined). */
  fixed: FixedAttributes | undefined;
  attributes: AttributeList;
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  status: { code: number; message?: string };
}

export interface SpanEvent {
  name: string;
  time: HrTime;
  attributes: AttributeList;
  droppedAttributesCount: number;
}

/** The span limits of the OpenTelemetry specification, as the SDK applies them. */
export interface SpanLimits {
  attributeCountLimit: number;
  attributeValueLengthLimit: number;
  eventCountLimit: number;
  attributePerEventCountLimit: number;
}

export const defaultLimits: SpanLimits = {
  attributeCountLimit: 128,
  attributeValueLengthLimit: Number.POSITIVE_INFINITY,
  eventCountLimit: 128,
  attributePerEventCountLimit: 128,
};

const int64Min = -(2 ** 63);
const int64Max = 2 ** 63;

function anyValue(w: ProtoWriter, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, 2);
      w.string(value);
      return;
    case 'boolean':
      w.tag(2, 0);
      w.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= int64Min && value < int64Max) {
        w.tag(3, 0);
        w.varint(value);
      } else {
        w.tag(4, 1);
        w.double(value);
      }
      return;
  }
  if (value instanceof Uint8Array) {
    w.tag(7, 2);
    w.varint(value.length);
    w.ensure(value.length);
    w.buf.set(value, w.pos);
    w.pos += value.length;
  } else if (Array.isArray(value)) {
    w.tag(5, 2);
    const array = w.start();
    for (const item of value) {
      w.tag(1, 2);
      const at = w.start();
      anyValue(w, item);
      w.finish(at);
    }
    w.finish(array);
  } else if (typeof value === 'object' && value !== null) {
    w.tag(6, 2);
    const list = w.start();
    const object = value as Record<string, unknown>;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      w.tag(1, 2);
      const kv = w.start();
      w.tag(1, 2);
      w.string(key);
      w.tag(2, 2);
      const at = w.start();
      anyValue(w, object[key]);
      w.finish(at);
      w.finish(kv);
    }
    w.finish(list);
  }
  // Anything else (null, undefined): an empty value, as the SDK writes it.
}

/** Keys as a `KeyValue.key` field (tag, length, UTF-8), written once each: they are few. */
const keyFields = new Map<string, Uint8Array>();
const keyFieldsMax = 1024;

function keyField(key: string): Uint8Array {
  let field = keyFields.get(key);
  if (field === undefined) {
    const w = new ProtoWriter(key.length * 3 + 8);
    w.tag(1, 2);
    w.string(key);
    field = new Uint8Array(w.buf.subarray(0, w.pos));
    if (keyFields.size < keyFieldsMax) keyFields.set(key, field);
  }
  return field;
}

export function writeAttributes(w: ProtoWriter, attributes: AttributeList, field: number): void {
  for (let i = 0; i < attributes.length; i += 2) {
    w.tag(field, 2);
    const kv = w.start();
    w.raw(keyField(attributes[i] as string));
    w.tag(2, 2);
    const value = w.start();
    anyValue(w, attributes[i + 1]);
    w.finish(value);
    w.finish(kv);
  }
}

/**
 * Attributes written once for many spans (those of a route's that never change), with the list they
 * were written from: `SpanData.fixed`.
 */
export interface FixedAttributes {
  list: AttributeList;
  /** `writeAttributes(list, 9)`'s bytes. */
  bytes: Uint8Array;
}

export function fixedAttributes(list: AttributeList): FixedAttributes {
  const w = new ProtoWriter(256);
  writeAttributes(w, list, 9);
  return { list, bytes: new Uint8Array(w.buf.subarray(0, w.pos)) };
}

const hasIsRemote = 0x100;
const isRemote = 0x200;

/** One span as a `ScopeSpans.spans` field (tag, length, `Span`). */
export function writeSpan(w: ProtoWriter, s: SpanData): void {
  w.tag(2, 2);
  const span = w.start();
  w.tag(1, 2);
  w.hex(s.traceId);
  w.tag(2, 2);
  w.hex(s.spanId);
  if (s.parentSpanId) {
    w.tag(4, 2);
    w.hex(s.parentSpanId);
  }
  w.tag(5, 2);
  w.string(s.name);
  w.tag(6, 0);
  w.varint(s.kind + 1);
  w.tag(7, 1);
  w.time(s.start);
  w.tag(8, 1);
  w.time(s.end);
  if (s.fixed !== undefined) w.raw(s.fixed.bytes);
  writeAttributes(w, s.attributes, 9);
  w.tag(10, 0);
  w.varint(s.droppedAttributesCount);
  for (const e of s.events) {
    w.tag(11, 2);
    const event = w.start();
    w.tag(1, 1);
    w.time(e.time);
    w.tag(2, 2);
    w.string(e.name);
    writeAttributes(w, e.attributes, 3);
    w.tag(4, 0);
    w.varint(e.droppedAttributesCount);
    w.finish(event);
  }
  w.tag(12, 0);
  w.varint(s.droppedEventsCount);
  w.tag(14, 0);
  w.varint(0); // links: Warren's spans have none
  w.tag(15, 2);
  const status = w.start();
  if (s.status.message) {
    w.tag(2, 2);
    w.string(s.status.message);
  }
  w.tag(3, 0);
  w.varint(s.status.code);
  w.finish(status);
  w.tag(16, 5);
  w.fixed32((s.traceFlags & 0xff) | hasIsRemote | (s.parentRemote ? isRemote : 0));
  w.finish(span);
}

/** A resource's `ResourceSpans.resource` field and a scope's `ScopeSpans.scope` field, written once. */
export function writeResourceField(w: ProtoWriter, attributes: Attributes): void {
  w.tag(1, 2);
  const resource = w.start();
  writeAttributes(w, attributeList(attributes), 1);
  w.tag(2, 0);
  w.varint(0);
  w.finish(resource);
}

export function writeScopeField(w: ProtoWriter, name: string, version: string | undefined): void {
  w.tag(1, 2);
  const scope = w.start();
  w.tag(1, 2);
  w.string(name);
  if (version) {
    w.tag(2, 2);
    w.string(version);
  }
  w.finish(scope);
}

/**
 * An `ExportTraceServiceRequest` of one resource and one scope around spans written by
 * `writeSpan` (each already a `spans` field). `resource` and `scope`: `writeResourceField`'s and
 * `writeScopeField`'s bytes; `resourceSchemaUrl`, the resource's schema URL if it has one.
 */
export function exportRequest(
  resource: Uint8Array,
  scope: Uint8Array,
  spans: readonly Uint8Array[],
  resourceSchemaUrl?: string,
): Uint8Array {
  let spansLength = 0;
  for (const s of spans) spansLength += s.length;
  const scopeSpansLength = scope.length + spansLength;
  const scopeSpansHead = [0x12, ...varintBytes(scopeSpansLength)];
  let schema: Uint8Array | undefined;
  if (resourceSchemaUrl) {
    const w = new ProtoWriter(resourceSchemaUrl.length * 3 + 16);
    w.tag(3, 2);
    w.string(resourceSchemaUrl);
    schema = w.buf.subarray(0, w.pos);
  }
  const resourceSpansLength =
    resource.length + scopeSpansHead.length + scopeSpansLength + (schema?.length ?? 0);
  const head = [0x0a, ...varintBytes(resourceSpansLength)];
  const out = new Uint8Array(head.length + resourceSpansLength);
  let at = 0;
  const put = (bytes: ArrayLike<number>): void => {
    out.set(bytes, at);
    at += bytes.length;
  };
  put(head);
  put(resource);
  put(scopeSpansHead);
  put(scope);
  for (const s of spans) put(s);
  if (schema) put(schema);
  return out;
}

/** A string attribute value cut to the limit, as the SDK cuts it (strings and arrays of strings). */
export function truncated(value: AttributeValue, limit: number): AttributeValue {
  if (!(limit > 0) || limit === Number.POSITIVE_INFINITY) return value;
  if (typeof value === 'string') return value.length > limit ? value.slice(0, limit) : value;
  if (Array.isArray(value))
    return value.map((v) =>
      typeof v === 'string' && v.length > limit ? v.slice(0, limit) : v,
    ) as AttributeValue;
  return value;
}
