import type { Logger } from 'pino';

/**
 * OpenTelemetry traces, off unless the standard variables ask for them. This module is the switch
 * and the vocabulary the delivery path calls; it imports nothing of OpenTelemetry, which only
 * `otel.ts` does, loaded by `startTracing` when tracing is on. Off, `tracer` stays undefined and
 * each hook point costs one check (`tracer` in dispatch, `d.span` after it).
 */

/** What a child span (a request, a publish, a plugin call) is told when it ends. */
export interface ChildSpan {
  /** This span's W3C traceparent: what the next hop (a receiver, a published copy) carries. */
  readonly traceparent: string;
  /** `error`: why it failed, or undefined when it did not. */
  end(error?: string): void;
}

export interface RequestSpan extends ChildSpan {
  /**
   * `status`: the HTTP response status, 0 when there was none (timeout, connection error);
   * `errorType` (few values: a status, `timeout`, …) and `message` when the request failed.
   */
  endRequest(status: number, errorType?: string, message?: string): void;
}

/** Where a webhook route sends, worked out once per route: no credentials, no query. */
export interface RequestTarget {
  method: string;
  url: string;
  host: string;
  port: number;
}

/** The consumer span of one delivery (`process <queue>`), and the factory of its children. */
export interface DeliverySpan {
  /** This span's W3C traceparent: what a retry or dead-letter copy carries. */
  readonly traceparent: string;
  /** A decision Warren took about the delivery: `retry` (with the delay queue) or `dead_letter`. */
  decided(decision: 'retry' | 'dead_letter', reason: string, queue: string): void;
  /** `outcome`: the final one (ack, retry, dead_letter, …); `error` marks a failed attempt. */
  end(outcome: string, error: string | undefined): void;
  request(target: RequestTarget): RequestSpan;
  publish(exchange: string, routingKey: string, messageId: string): ChildSpan;
  plugin(name: string): ChildSpan;
}

/** What a consumer span records of its delivery. */
export interface DeliveryFacts {
  queue: string;
  route: string;
  exchange: string;
  routingKey: string;
  messageId: string;
  attempt: number;
  bodySize: number;
  /** The message's valid traceparent, the span's parent; undefined starts a new trace. */
  parent: string | undefined;
}

export interface Tracer {
  startDelivery(facts: DeliveryFacts): DeliverySpan;
  /**
   * Exports what is buffered, for at most `deadlineMs`, then stops: what has not left by then is
   * dropped, and nothing of tracing is left to keep the process alive.
   */
  shutdown(deadlineMs: number): Promise<void>;
}

/** Set while tracing is on; undefined (the default) means off. */
export let tracer: Tracer | undefined;

export type TracingChoice = { on: boolean; warning?: string };

const truthy = /^\s*true\s*$/i;

/**
 * Whether the environment asks for traces: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER=otlp`; never with
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. An exporter other than otlp is not one
 * Warren ships: it says so and stays off; so is the `grpc` protocol. `http/json` is said and sent as
 * http/protobuf, which every OTLP/HTTP collector takes.
 */
export function tracingChoice(env: NodeJS.ProcessEnv): TracingChoice {
  if (truthy.test(env.OTEL_SDK_DISABLED ?? '')) return { on: false };
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes('none')) return { on: false };
  const other = exporters.filter((e) => e !== 'otlp');
  if (other.length > 0)
    return {
      on: false,
      warning: `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: Warren exports traces with otlp only (OTLP/HTTP); tracing is off`,
    };
  const name = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim()
    ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
    : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const endpoint = (env[name] ?? '').trim();
  const wrong = endpoint === '' ? undefined : endpointProblem(endpoint);
  if (wrong) return { on: false, warning: `${name} ${wrong}: tracing is off` };
  if (!exporters.includes('otlp') && endpoint === '') return { on: false };
  const protocol = tracesProtocol(env);
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    return {
      on: false,
      warning: `${protocolVariable(env)}=${protocol}: Warren exports traces over OTLP/HTTP as http/protobuf only; tracing is off`,
    };
  return protocol === 'http/json'
    ? {
        on: true,
        warning: `${protocolVariable(env)}=http/json: Warren sends http/protobuf, which an OTLP/HTTP collector takes at the same endpoint`,
      }
    : { on: true };
}

function protocolVariable(env: NodeJS.ProcessEnv): string {
  return (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? '').trim()
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
}

/**
 * The OTLP protocol the environment asks for (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
 * `OTEL_EXPORTER_OTLP_PROTOCOL`), `http/protobuf` when neither says: the specification's default.
 */
export function tracesProtocol(env: NodeJS.ProcessEnv): string {
  return (env[protocolVariable(env)] ?? '').trim() || 'http/protobuf';
}

/**
 * What is wrong with an endpoint the OTLP/HTTP exporter cannot send to, if anything. The SDK would
 * say it once in a line about "falling back to undefined" and send to localhost:4318 instead, or
 * fail every export. The value is not repeated: it may hold credentials.
 */
function endpointProblem(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL (expected e.g. http://collector:4318)';
  }
  return url.protocol === 'http:' || url.protocol === 'https:'
    ? undefined
    : `is a ${url.protocol} URL; OTLP/HTTP needs http: or https:`;
}

/**
 * Turns tracing on when the environment asks for it. The SDK reads the rest of its settings
 * (endpoint, headers, timeout, batch sizes, sampler, resource attributes) from `process.env` itself,
 * so `env` is `process.env` but for tests of the choice. True when tracing is on.
 */
export async function startTracing(env: NodeJS.ProcessEnv, log: Logger): Promise<boolean> {
  const choice = tracingChoice(env);
  if (!choice.on) {
    if (choice.warning) log.warn({ event: 'tracing_off' }, choice.warning);
    return false;
  }
  if (choice.warning) log.warn({ event: 'tracing' }, choice.warning);
  const { createTracer } = await import('./otel.js');
  try {
    tracer = await createTracer(log);
  } catch (err) {
    log.error(
      { event: 'tracing_off', err },
      `tracing could not start: ${(err as Error).message}; tracing is off`,
    );
    return false;
  }
  return true;
}

/** Flushes the spans still buffered (at most `deadlineMs`) and turns tracing off. */
export async function stopTracing(deadlineMs = 5_000): Promise<void> {
  const stopping = tracer;
  tracer = undefined;
  await stopping?.shutdown(deadlineMs);
}
