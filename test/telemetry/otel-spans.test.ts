import { addHrTimes, millisToHrTime } from '@opentelemetry/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordingTracer, samplerFromEnv } from '../../src/telemetry/otel.js';
import {
  defaultLimits,
  exportRequest,
  ProtoWriter,
  writeResourceField,
  writeScopeField,
} from '../../src/telemetry/otel-proto.js';
import { SpanClock } from '../../src/telemetry/otel-recorder.js';
import type { DeliveryFacts } from '../../src/telemetry/tracing.js';
import { decodeExport, spanKind } from '../helpers/otlp.js';

/** Warren's spans as the export thread would send them, read back with the test's decoder. */
function recorder(env: NodeJS.ProcessEnv = {}) {
  const written: Buffer[] = [];
  /** The capacity of the buffer each span was handed over in. */
  const capacities: number[] = [];
  // The wall clock says 1,800,000,000 s until a test moves it; the monotonic clock moves a
  // millisecond a reading.
  let perf = 0;
  const clock = {
    wall: 1_800_000_000_000,
    wallMs: () => clock.wall,
    perfMs: () => {
      perf += 1;
      return perf;
    },
  };
  const tracer = recordingTracer(
    {
      put: (bytes, length) => {
        written.push(Buffer.from(bytes.subarray(0, length)));
        capacities.push(bytes.length);
      },
    },
    samplerFromEnv(env),
    defaultLimits,
    clock,
  );
  const spans = () => {
    const head = new ProtoWriter(64);
    writeResourceField(head, { 'service.name': 'warren' });
    const end = head.pos;
    writeScopeField(head, 'warren', '1');
    const request = exportRequest(head.buf.subarray(0, end), head.buf.subarray(end, head.pos), written);
    return decodeExport(Buffer.from(request)).resourceSpans![0]!.scopeSpans![0]!.spans ?? [];
  };
  return { tracer, spans, clock, capacities };
}

const facts = (over: Partial<DeliveryFacts> = {}): DeliveryFacts => ({
  queue: 'orders',
  route: 'orders-hook',
  exchange: 'shop',
  routingKey: 'order.created',
  messageId: 'm-1',
  attempt: 1,
  bodySize: 42,
  parent: undefined,
  ...over,
});

const plain = (list: Array<{ key: string; value: Record<string, unknown> }> | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, Object.values(kv.value)[0]]));

describe("Warren's spans, as written on the event loop", () => {
  it('are a consumer span per delivery with its children, ids as the traceparents carried them', () => {
    const { tracer, spans } = recorder();
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const d = tracer.startDelivery(facts({ parent, attempt: 2 }));
    const request = d.request({
      method: 'POST',
      url: 'https://hooks.example/in',
      host: 'hooks.example',
      port: 443,
    });
    request.endRequest(503, '503', 'receiver answered 503');
    const plugin = d.plugin('enrich');
    plugin.end();
    const publish = d.publish('', 'next', 'm-1');
    publish.end('channel closed');
    d.decided('retry', 'receiver answered 503', 'orders.retry.1');
    d.end('retry', 'receiver answered 503');

    const [req, plg, pub, consumer] = spans();
    expect(consumer).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      name: 'process orders',
      kind: spanKind.consumer,
      status: { code: 2, message: 'receiver answered 503' },
    });
    expect(d.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${consumer!.spanId}-01`);
    expect(plain(consumer!.attributes)).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'orders',
      'warren.route': 'orders-hook',
      'messaging.rabbitmq.destination.routing_key': 'order.created',
      'messaging.message.id': 'm-1',
      'messaging.message.body.size': 42,
      'warren.attempt': 2,
      'warren.exchange': 'shop',
      'warren.outcome': 'retry',
    });
    expect(consumer!.events?.map((e) => [e.name, plain(e.attributes)])).toEqual([
      ['warren.retry', { 'warren.reason': 'receiver answered 503', 'warren.retry.tier': 'orders.retry.1' }],
    ]);
    for (const [child, traceparent] of [
      [req, request.traceparent],
      [plg, plugin.traceparent],
      [pub, publish.traceparent],
    ] as const) {
      expect(child!.parentSpanId).toBe(consumer!.spanId);
      expect(traceparent).toBe(`00-${consumer!.traceId}-${child!.spanId}-01`);
    }
    expect(req).toMatchObject({
      name: 'POST',
      kind: spanKind.client,
      status: { code: 2, message: 'receiver answered 503' },
    });
    expect(plain(req!.attributes)).toEqual({
      'http.request.method': 'POST',
      'url.full': 'https://hooks.example/in',
      'server.address': 'hooks.example',
      'server.port': 443,
      'http.response.status_code': 503,
      'error.type': '503',
    });
    expect(plg).toMatchObject({ name: 'plugin enrich', kind: spanKind.internal, status: { code: 0 } });
    expect(pub).toMatchObject({ name: 'publish amq.default', kind: spanKind.producer, status: { code: 2 } });
    expect(plain(pub!.attributes)['messaging.rabbitmq.destination.routing_key']).toBe('next');
  });

  it('start a new trace for a message without a traceparent, and name each route of a queue rightly', () => {
    const { tracer, spans } = recorder();
    tracer.startDelivery(facts()).end('ack', undefined);
    tracer.startDelivery(facts({ route: 'renamed' })).end('ack', undefined);
    const [first, second] = spans();
    expect(first!.parentSpanId).toBe('');
    expect(first!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(first!.traceId).not.toBe(second!.traceId);
    expect(plain(first!.attributes)['warren.route']).toBe('orders-hook');
    expect(plain(second!.attributes)['warren.route']).toBe('renamed');
  });

  it("follow an unsampled parent's decision by default: nothing written, flags 00 passed on", () => {
    const { tracer, spans } = recorder();
    const d = tracer.startDelivery(
      facts({ parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }),
    );
    const r = d.request({ method: 'POST', url: 'http://h/', host: 'h', port: 80 });
    r.endRequest(200);
    d.decided('dead_letter', 'x', 'dlq');
    d.end('ack', undefined);
    expect(spans()).toEqual([]);
    expect(d.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    expect(d.traceparent).not.toContain('b7ad6b7169203331');
    expect(r.traceparent).toMatch(/-00$/);
  });

  it('sample as OTEL_TRACES_SAMPLER says, with the SDK samplers', () => {
    const unsampledParent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    const off = recorder({ OTEL_TRACES_SAMPLER: 'always_off' });
    off.tracer.startDelivery(facts()).end('ack', undefined);
    expect(off.spans()).toEqual([]);

    const on = recorder({ OTEL_TRACES_SAMPLER: 'always_on' });
    const d = on.tracer.startDelivery(facts({ parent: unsampledParent }));
    d.end('ack', undefined);
    expect(on.spans()).toHaveLength(1);
    expect(d.traceparent).toMatch(/-01$/);

    const none = recorder({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    for (let i = 0; i < 20; i++) none.tracer.startDelivery(facts()).end('ack', undefined);
    expect(none.spans()).toEqual([]);

    const all = recorder({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' });
    for (let i = 0; i < 5; i++) all.tracer.startDelivery(facts()).end('ack', undefined);
    all.tracer.startDelivery(facts({ parent: unsampledParent })).end('ack', undefined);
    expect(all.spans()).toHaveLength(5);
  });

  it('start at the wall clock and last what the monotonic clock measured, as the SDK times its own', () => {
    const { tracer, spans, clock } = recorder();
    const d = tracer.startDelivery(facts()); // wall 1,800,000,000,000 ms; monotonic 1 ms
    const r = d.request({ method: 'POST', url: 'http://h/', host: 'h', port: 80 }); // monotonic 2
    clock.wall -= 3_600_000; // the wall clock is stepped back an hour mid-delivery
    r.endRequest(200); // monotonic 3
    d.decided('retry', 'x', 'q.retry'); // monotonic 4
    d.end('retry', 'x'); // monotonic 5
    const [request, consumer] = spans();
    const ms = 1_000_000n;
    const start = 1_800_000_000_000n * ms;
    expect(BigInt(consumer!.startTimeUnixNano!)).toBe(start);
    expect(BigInt(consumer!.endTimeUnixNano!)).toBe(start + 4n * ms);
    expect(BigInt(request!.startTimeUnixNano!)).toBe(start);
    expect(BigInt(request!.endTimeUnixNano!) - BigInt(request!.startTimeUnixNano!)).toBe(ms);
  });

  it('hand a span of a huge attribute over whole, and go on with a small buffer after it', () => {
    const { tracer, spans, capacities } = recorder();
    const d = tracer.startDelivery(facts());
    d.publish('out', 'k'.repeat(200_000), 'm-1').end('unencodable');
    d.end('ack', undefined);
    const [publish, consumer] = spans();
    expect(plain(publish!.attributes)['messaging.rabbitmq.destination.routing_key']).toHaveLength(200_000);
    expect(consumer!.name).toBe('process orders');
    expect(capacities[0]).toBeGreaterThan(200_000);
    expect(capacities[1]).toBeLessThanOrEqual(4096);
  });

  it("time a moment after the start exactly as the SDK's addHrTimes(millisToHrTime…) would", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 4e12, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        (wall, perf, since) => {
          const clock = new SpanClock({ wallMs: () => wall, perfMs: () => perf });
          expect(clock.at(perf + since)).toEqual(
            addHrTimes(millisToHrTime(wall), millisToHrTime(perf + since - perf)),
          );
        },
      ),
      { seed: 1215, numRuns: 2000 },
    );
  });
});
