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
 * Every span a receiver standing in for an OTLP/HTTP collector got on `POST /v1/traces` (JSON
 * encoding: resourceSpans → scopeSpans → spans, ids in hex).
 */
export function exportedSpans(sink: Receiver): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const request of sink.requests) {
    if (request.method !== 'POST' || request.path !== '/v1/traces') continue;
    for (const rs of (JSON.parse(request.body) as Export).resourceSpans ?? []) {
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
