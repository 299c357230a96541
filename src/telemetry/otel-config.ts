import { diag } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  type AttributeList,
  defaultLimits,
  type SpanData,
  type SpanEvent,
  type SpanLimits,
  truncated,
} from './otel-proto.js';

/**
 * What the `OTEL_*` variables set for the spans made on the event loop: the sampler and the span
 * limits, read and applied as the SDK reads and applies them.
 */

/** `parentbased_always_on`, the default, decided without the SDK's call (same answer, no context). */
export const defaultSampler: Sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });

/** The SDK's default ratio where `OTEL_TRACES_SAMPLER_ARG` is missing or out of range. */
const defaultRatio = 1;

function ratioFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim() ?? '';
  const ratio = raw === '' ? Number.NaN : Number(raw);
  if (raw === '') diag.error(`OTEL_TRACES_SAMPLER_ARG is blank, defaulting to ${defaultRatio}.`);
  else if (!(ratio >= 0 && ratio <= 1))
    diag.error(
      `OTEL_TRACES_SAMPLER_ARG=${raw} was given, but it is out of range ([0..1]), defaulting to ${defaultRatio}.`,
    );
  else return ratio;
  return defaultRatio;
}

/**
 * The sampler `OTEL_TRACES_SAMPLER` (and `_ARG`) names, as the SDK builds it from the environment
 * (the SDK's own samplers, its default `parentbased_always_on`, its messages for a wrong value).
 * It runs on the event loop: the traceparent the next hop carries says whether the span is sampled.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  switch (name) {
    case 'parentbased_always_on':
      return defaultSampler;
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratioFromEnv(env));
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratioFromEnv(env)) });
    default:
      diag.error(`OTEL_TRACES_SAMPLER value "${name}" invalid, defaulting to "parentbased_always_on".`);
      return defaultSampler;
  }
}

/** A limit from the environment: the span's variable, else the general one, else the default. */
function limitFromEnv(env: NodeJS.ProcessEnv, names: string[], fallback: number): number {
  for (const name of names) {
    const raw = env[name]?.trim() ?? '';
    if (raw === '') continue;
    const n = Number(raw);
    if (!Number.isNaN(n)) return n;
    diag.warn(`${name}=${raw} is not a number: ignored`);
  }
  return fallback;
}

/**
 * The span limits the `OTEL_SPAN_*` and `OTEL_ATTRIBUTE_*` variables set; `defaultLimits` itself
 * when they set none (or only the defaults).
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv): SpanLimits {
  const limits: SpanLimits = {
    attributeCountLimit: limitFromEnv(
      env,
      ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'],
      defaultLimits.attributeCountLimit,
    ),
    attributeValueLengthLimit: limitFromEnv(
      env,
      ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'],
      defaultLimits.attributeValueLengthLimit,
    ),
    eventCountLimit: limitFromEnv(env, ['OTEL_SPAN_EVENT_COUNT_LIMIT'], defaultLimits.eventCountLimit),
    attributePerEventCountLimit: limitFromEnv(
      env,
      ['OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT'],
      defaultLimits.attributePerEventCountLimit,
    ),
  };
  const same = (Object.keys(limits) as Array<keyof SpanLimits>).every((k) => limits[k] === defaultLimits[k]);
  return same ? defaultLimits : limits;
}

/** `span` within the limits, as the SDK would have cut it (attributes past the count dropped and
 * counted, string values cut to the length, the oldest events dropped past their count). */
export function limited(span: SpanData, limits: SpanLimits): SpanData {
  if (limits === defaultLimits) return span; // Warren's spans never reach the default limits
  const all = span.fixed === undefined ? span.attributes : [...span.fixed.list, ...span.attributes];
  const [attributes, dropped] = cut(all, limits.attributeCountLimit, limits);
  // The SDK's own steps, event by event: with none allowed each is dropped; at the limit the oldest
  // is (a negative limit keeps the last one, a fraction rounds up).
  const events: SpanEvent[] = [];
  let droppedEvents = 0;
  for (const e of span.events) {
    if (limits.eventCountLimit === 0) {
      droppedEvents++;
      continue;
    }
    if (events.length >= limits.eventCountLimit) {
      events.shift();
      droppedEvents++;
    }
    const [eventAttributes, eventDropped] = cut(e.attributes, limits.attributePerEventCountLimit, limits);
    events.push({ ...e, attributes: eventAttributes, droppedAttributesCount: eventDropped });
  }
  return {
    ...span,
    fixed: undefined,
    attributes,
    droppedAttributesCount: dropped,
    events,
    droppedEventsCount: droppedEvents,
  };
}

function cut(attributes: AttributeList, count: number, limits: SpanLimits): [AttributeList, number] {
  const kept: AttributeList = [];
  let dropped = 0;
  for (let i = 0; i < attributes.length; i += 2) {
    const value = attributes[i + 1];
    if (value === undefined || value === null) continue;
    if (kept.length / 2 >= count) dropped++;
    else kept.push(attributes[i] as string, truncated(value, limits.attributeValueLengthLimit));
  }
  return [kept, dropped];
}
