import type { Receiver } from './receiver.js';

/** One span as an OTLP/HTTP JSON export carries it, its attributes and its resource's as plain values. */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's numbers: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Record<string, unknown>;
}

export const spanKind = { internal: 1, client: 3, producer: 4, consumer: 5 } as const;

interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}

/** An OTLP AnyValue as plain data (int64 may arrive as a string in JSON). */
function plainValue(value: Record<string, unknown>): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('boolValue' in value) return value.boolValue;
  if ('arrayValue' in value)
    return ((value.arrayValue as { values?: Array<Record<string, unknown>> }).values ?? []).map(plainValue);
  return value;
}

function plainAttributes(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, plainValue(kv.value)]));
}

interface RawSpan {
  /** Nanoseconds since the epoch, as the JSON encoding writes them. */
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  events?: Array<{ name: string; attributes?: KeyValue[] }>;
  status?: { code?: number; message?: string };
}

interface Export {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ spans?: RawSpan[] }>;
  }>;
}

/**
 * Every span a receiver standing in for an OTLP/HTTP collector got on `POST /v1/traces`, in the
 * protobuf encoding Warren sends (or JSON: resourceSpans → scopeSpans → spans, ids in hex).
 */
export function exportedSpans(sink: Receiver): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const request of sink.requests) {
    if (request.method !== 'POST' || request.path !== '/v1/traces') continue;
    const exported =
      request.headers['content-type'] === 'application/x-protobuf'
        ? decodeExport(request.bytes)
        : (JSON.parse(request.body) as Export);
    for (const rs of exported.resourceSpans ?? []) {
      const resource = plainAttributes(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            kind: s.kind,
            attributes: plainAttributes(s.attributes),
            events: (s.events ?? []).map((e) => ({
              name: e.name,
              attributes: plainAttributes(e.attributes),
            })),
            status: {
              code: s.status?.code ?? 0,
              ...(s.status?.message ? { message: s.status.message } : {}),
            },
            resource,
          });
        }
      }
    }
  }
  return spans;
}

/** The trace and span id of a W3C traceparent. */
export function traceparentIds(traceparent: string): { traceId: string; spanId: string } {
  const [, traceId = '', spanId = ''] = traceparent.split('-');
  return { traceId, spanId };
}

/** One field of a protobuf message: its number, and its value (varint and fixed64 as bigint). */
interface Field {
  n: number;
  varint?: bigint;
  fixed64?: Buffer;
  fixed32?: Buffer;
  bytes?: Buffer;
}

function readVarint(b: Buffer, at: { i: number }): bigint {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const c = b[at.i++];
    if (c === undefined) throw new Error('protobuf: a varint runs past the end');
    v |= BigInt(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
    shift += 7n;
  }
}

/** The fields of a protobuf message, in order: enough of the wire format to read OTLP. */
export function protoFields(b: Buffer): Field[] {
  const fields: Field[] = [];
  const at = { i: 0 };
  while (at.i < b.length) {
    const tag = Number(readVarint(b, at));
    const n = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) fields.push({ n, varint: readVarint(b, at) });
    else if (wire === 1) {
      fields.push({ n, fixed64: b.subarray(at.i, at.i + 8) });
      at.i += 8;
    } else if (wire === 5) {
      fields.push({ n, fixed32: b.subarray(at.i, at.i + 4) });
      at.i += 4;
    } else if (wire === 2) {
      const length = Number(readVarint(b, at));
      if (at.i + length > b.length) throw new Error('protobuf: a field runs past the end');
      fields.push({ n, bytes: b.subarray(at.i, at.i + length) });
      at.i += length;
    } else throw new Error(`protobuf: wire type ${wire} is not in OTLP`);
  }
  return fields;
}

const text = (f: Field | undefined): string => f?.bytes?.toString('utf8') ?? '';
const hex = (f: Field | undefined): string => f?.bytes?.toString('hex') ?? '';
const pick = (fields: Field[], n: number): Field[] => fields.filter((f) => f.n === n);

/** An OTLP AnyValue as the JSON encoding's object, so `plainValue` reads both. */
function anyValueJson(b: Buffer): Record<string, unknown> {
  const [f] = protoFields(b);
  if (f === undefined) return {};
  if (f.n === 1) return { stringValue: text(f) };
  if (f.n === 2) return { boolValue: f.varint === 1n };
  if (f.n === 3) return { intValue: Number(BigInt.asIntN(64, f.varint ?? 0n)) };
  if (f.n === 4) return { doubleValue: f.fixed64!.readDoubleLE(0) };
  if (f.n === 5)
    return { arrayValue: { values: pick(protoFields(f.bytes!), 1).map((v) => anyValueJson(v.bytes!)) } };
  return { unknown: f.n };
}

function keyValues(fields: Field[]): KeyValue[] {
  return fields.map((kv) => {
    const inner = protoFields(kv.bytes!);
    return { key: text(pick(inner, 1)[0]), value: anyValueJson(pick(inner, 2)[0]?.bytes ?? Buffer.alloc(0)) };
  });
}

/** An `ExportTraceServiceRequest` in protobuf as the JSON encoding's structure. */
export function decodeExport(b: Buffer): Export {
  return {
    resourceSpans: pick(protoFields(b), 1).map((rs) => {
      const rsFields = protoFields(rs.bytes!);
      const resource = protoFields(pick(rsFields, 1)[0]?.bytes ?? Buffer.alloc(0));
      return {
        resource: { attributes: keyValues(pick(resource, 1)) },
        scopeSpans: pick(rsFields, 2).map((ss) => ({
          spans: pick(protoFields(ss.bytes!), 2).map((sp): RawSpan => {
            const s = protoFields(sp.bytes!);
            const status = protoFields(pick(s, 15)[0]?.bytes ?? Buffer.alloc(0));
            return {
              startTimeUnixNano: pick(s, 7)[0]?.fixed64?.readBigUInt64LE(0).toString(),
              endTimeUnixNano: pick(s, 8)[0]?.fixed64?.readBigUInt64LE(0).toString(),
              traceId: hex(pick(s, 1)[0]),
              spanId: hex(pick(s, 2)[0]),
              parentSpanId: hex(pick(s, 4)[0]),
              name: text(pick(s, 5)[0]),
              kind: Number(pick(s, 6)[0]?.varint ?? 0n),
              attributes: keyValues(pick(s, 9)),
              events: pick(s, 11).map((e) => {
                const ef = protoFields(e.bytes!);
                return { name: text(pick(ef, 2)[0]), attributes: keyValues(pick(ef, 3)) };
              }),
              status: {
                code: Number(pick(status, 3)[0]?.varint ?? 0n),
                message: text(pick(status, 2)[0]) || undefined,
              },
            };
          }),
        })),
      };
    }),
  };
}
