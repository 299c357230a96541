import { type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Sampler } from '@opentelemetry/sdk-trace-base';
import type { ExportThread } from './otel-handoff.js';
import {
  type AttributeList,
  defaultLimits,
  type FixedAttributes,
  fixedAttributes,
  type SpanData,
  type SpanEvent,
  type SpanLimits,
} from './otel-proto.js';
import { type Clock, Recorder, SpanClock, systemClock } from './otel-recorder.js';
import { randomHex } from './trace.js';
import type {
  ChildSpan,
  DeliveryFacts,
  DeliverySpan,
  RequestSpan,
  RequestTarget,
  Tracer,
} from './tracing.js';

/**
 * The spans of a delivery on the event loop: the consumer span and its children (a webhook
 * request, a publish, a plugin call). Each has its ids and the sampler's decision at once (the next
 * hop carries them), and is written, when it ends, by the recorder (`otel-recorder.ts`).
 */

const traceparentOf = (traceId: string, spanId: string, sampled: boolean): string =>
  `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;

const ok = { code: SpanStatusCode.UNSET };
const noEvents: SpanEvent[] = [];

function status(error: string | undefined): SpanData['status'] {
  return error === undefined ? ok : { code: SpanStatusCode.ERROR, message: error };
}

/** A span under a delivery's consumer span: a webhook request, a publish, a plugin call. */
abstract class Child implements ChildSpan {
  readonly traceparent: string;
  protected readonly spanId = randomHex(16);
  protected readonly sampled: boolean;
  protected readonly start: SpanClock;

  constructor(
    protected readonly r: Recorder,
    protected readonly parent: Consumer,
    protected readonly name: string,
    protected readonly kind: SpanKind,
  ) {
    this.start = new SpanClock(r.clock);
    this.sampled = r.sampled(parent.sampled, parent, parent.traceId, name, kind);
    this.traceparent = traceparentOf(parent.traceId, this.spanId, this.sampled);
  }

  protected write(
    fixed: FixedAttributes | undefined,
    attributes: AttributeList,
    error: string | undefined,
  ): void {
    this.r.write({
      traceId: this.parent.traceId,
      spanId: this.spanId,
      parentSpanId: this.parent.spanId,
      parentRemote: false,
      traceFlags: TraceFlags.SAMPLED,
      name: this.name,
      kind: this.kind,
      start: this.start.start(),
      end: this.start.at(this.r.clock.perfMs()),
      fixed,
      attributes,
      droppedAttributesCount: 0,
      events: noEvents,
      droppedEventsCount: 0,
      status: status(error),
    });
  }

  abstract end(error?: string): void;
}

/** A route's webhook target's attributes, written once (the target is worked out once per route). */
const targetAttributes = new WeakMap<RequestTarget, FixedAttributes>();

function requestAttributes(t: RequestTarget): FixedAttributes {
  let fixed = targetAttributes.get(t);
  if (fixed === undefined) {
    fixed = fixedAttributes([
      'http.request.method',
      t.method,
      'url.full',
      t.url,
      'server.address',
      t.host,
      'server.port',
      t.port,
    ]);
    targetAttributes.set(t, fixed);
  }
  return fixed;
}

const noAttributeList: AttributeList = [];

class Request extends Child implements RequestSpan {
  constructor(
    r: Recorder,
    parent: Consumer,
    private readonly target: RequestTarget,
  ) {
    super(r, parent, target.method, SpanKind.CLIENT);
  }

  endRequest(status: number, errorType?: string, message?: string): void {
    if (!this.sampled) return;
    const attributes: AttributeList = [];
    if (status > 0) attributes.push('http.response.status_code', status);
    if (errorType !== undefined) attributes.push('error.type', errorType);
    this.write(
      requestAttributes(this.target),
      attributes,
      errorType === undefined ? undefined : (message ?? errorType),
    );
  }

  end(error?: string): void {
    if (this.sampled) this.write(requestAttributes(this.target), noAttributeList, error);
  }
}

class Publish extends Child {
  constructor(
    r: Recorder,
    parent: Consumer,
    private readonly destination: string,
    private readonly routingKey: string,
    private readonly messageId: string,
  ) {
    super(r, parent, `publish ${destination}`, SpanKind.PRODUCER);
  }

  end(error?: string): void {
    if (!this.sampled) return;
    this.write(
      undefined,
      [
        'messaging.system',
        rabbitmq,
        'messaging.operation.type',
        'send',
        'messaging.operation.name',
        'publish',
        'messaging.destination.name',
        this.destination,
        'messaging.rabbitmq.destination.routing_key',
        this.routingKey,
        'messaging.message.id',
        this.messageId,
      ],
      error,
    );
  }
}

class Plugin extends Child {
  constructor(
    r: Recorder,
    parent: Consumer,
    private readonly plugin: string,
  ) {
    super(r, parent, `plugin ${plugin}`, SpanKind.INTERNAL);
  }

  end(error?: string): void {
    if (this.sampled) this.write(undefined, ['warren.plugin', this.plugin], error);
  }
}

const rabbitmq = 'rabbitmq';

/** What a queue's consumer spans share: their name and the attributes of the queue and route. */
interface QueueSpans {
  route: string;
  name: string;
  fixed: FixedAttributes;
}

/** By queue, for the routes consuming now (a queue's route is checked at each use). */
const queueSpans = new Map<string, QueueSpans>();
const queueSpansMax = 10_000;

function spansOfQueue(queue: string, route: string): QueueSpans {
  let shared = queueSpans.get(queue);
  if (shared === undefined || shared.route !== route) {
    shared = {
      route,
      name: `process ${queue}`,
      fixed: fixedAttributes([
        'messaging.system',
        rabbitmq,
        'messaging.operation.type',
        'process',
        'messaging.destination.name',
        queue,
        'warren.route',
        route,
      ]),
    };
    if (queueSpans.size >= queueSpansMax) queueSpans.clear();
    queueSpans.set(queue, shared);
  }
  return shared;
}

class Consumer implements DeliverySpan {
  readonly traceparent: string;
  readonly traceId: string;
  readonly spanId = randomHex(16);
  readonly sampled: boolean;
  readonly #r: Recorder;
  readonly #f: DeliveryFacts;
  readonly #shared: QueueSpans;
  readonly #start: SpanClock;
  /** decision, reason, queue and when, by the monotonic clock, of each event. */
  #events: Array<string | number> | undefined;
  /** What a child's sampler sees as its parent: made at the first child that needs it. */
  #context: Context | undefined;

  constructor(r: Recorder, f: DeliveryFacts) {
    this.#r = r;
    this.#f = f;
    this.#start = new SpanClock(r.clock);
    this.#shared = spansOfQueue(f.queue, f.route);
    const parent = f.parent;
    this.traceId = parent === undefined ? randomHex(32) : parent.slice(3, 35);
    this.sampled = r.sampled(
      parent === undefined
        ? undefined
        : (Number.parseInt(parent.slice(53, 55), 16) & TraceFlags.SAMPLED) !== 0,
      parent,
      this.traceId,
      this.#shared.name,
      SpanKind.CONSUMER,
    );
    this.traceparent = traceparentOf(this.traceId, this.spanId, this.sampled);
  }

  context(): Context {
    this.#context ??= trace.setSpanContext(ROOT_CONTEXT, {
      traceId: this.traceId,
      spanId: this.spanId,
      traceFlags: this.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      isRemote: false,
    });
    return this.#context;
  }

  decided(decision: 'retry' | 'dead_letter', reason: string, queue: string): void {
    if (!this.sampled) return;
    this.#events ??= [];
    this.#events.push(decision, reason, queue, this.#r.clock.perfMs());
  }

  end(outcome: string, error: string | undefined): void {
    if (!this.sampled) return;
    const f = this.#f;
    this.#r.write({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: f.parent === undefined ? undefined : f.parent.slice(36, 52),
      parentRemote: f.parent !== undefined,
      traceFlags: TraceFlags.SAMPLED,
      name: this.#shared.name,
      kind: SpanKind.CONSUMER,
      start: this.#start.start(),
      end: this.#start.at(this.#r.clock.perfMs()),
      fixed: this.#shared.fixed,
      attributes: [
        'messaging.rabbitmq.destination.routing_key',
        f.routingKey,
        'messaging.message.id',
        f.messageId,
        'messaging.message.body.size',
        f.bodySize,
        'warren.attempt',
        f.attempt,
        'warren.exchange',
        f.exchange,
        'warren.outcome',
        outcome,
      ],
      droppedAttributesCount: 0,
      events: this.#events === undefined ? noEvents : this.#timedEvents(this.#events),
      droppedEventsCount: 0,
      status: status(error),
    });
  }

  #timedEvents(events: Array<string | number>): SpanEvent[] {
    const timed: SpanEvent[] = [];
    for (let i = 0; i < events.length; i += 4) {
      const [decision, reason, queue] = [
        events[i] as string,
        events[i + 1] as string,
        events[i + 2] as string,
      ];
      timed.push({
        name: `warren.${decision}`,
        time: this.#start.at(events[i + 3] as number),
        attributes:
          decision === 'retry'
            ? ['warren.reason', reason, 'warren.retry.tier', queue]
            : ['warren.reason', reason, 'warren.dead_letter.queue', queue],
        droppedAttributesCount: 0,
      });
    }
    return timed;
  }

  request(t: RequestTarget): RequestSpan {
    return new Request(this.#r, this, t);
  }

  publish(exchange: string, routingKey: string, messageId: string): ChildSpan {
    return new Publish(this.#r, this, exchange === '' ? 'amq.default' : exchange, routingKey, messageId);
  }

  plugin(name: string): ChildSpan {
    return new Plugin(this.#r, this, name);
  }
}

/**
 * Spans recorded on the event loop, each written as OTLP protobuf as it ends and handed to
 * `thread`. `clock`: the clocks (tests set their own).
 */
export function recordingTracer(
  thread: Pick<ExportThread, 'put'>,
  sampler: Sampler,
  limits: SpanLimits = defaultLimits,
  clock: Clock = systemClock,
): Pick<Tracer, 'startDelivery'> {
  const recorder = new Recorder(thread, sampler, limits, clock);
  return { startDelivery: (facts) => new Consumer(recorder, facts) };
}
