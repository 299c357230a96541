import type { Metric, Registry } from 'prom-client';
import type { ReloadReport } from '../runtime/report.js';
import type { Readiness, RouteStatus } from '../runtime/runtime.js';
import { registry as warrenRegistry } from '../telemetry/metrics.js';

/**
 * `GET /api/status`: what the status page polls, computed only when asked. Per route its state and
 * holdings (from the runtime), its cumulative counters (from the metrics registry, as /metrics has
 * them: the page turns two polls into rates), its DLQ depth (the gauge /metrics reads, with its
 * cache), and its handler-time buckets with p50/p99 since start. No configuration: that is
 * `/api/routes/:name`, asked for one route at a time.
 */

/** What the status endpoint reads of the runtime (`Runtime` has all of it). */
export interface StatusSource {
  plan: { version: string };
  connection(): { connected: boolean; node: string | null };
  readiness(): Readiness;
  status(): RouteStatus[];
  readonly reloads: ReloadReport[];
}

/** A route's status with its numbers; a field with nothing to say is left out. */
export interface RouteStatusView extends RouteStatus {
  /** Deliveries finished, by outcome (`ack`, `retry`, `dead_letter`, `filtered`, `drop`, …), since start. */
  counts?: Record<string, number>;
  /** Seconds held, since start: by the rate limit, by the byte budget. */
  heldSeconds?: { rateLimit: number; byteBudget: number };
  /** Messages in its DLQ (read at most every few seconds); null when it could not be read. */
  dlq: number | null;
  /** Handler time: cumulative counts per bound of `bounds` (the last one +Inf), and p50/p99 in
   * seconds since start; left out before the first delivery. */
  buckets?: number[];
  p50?: number;
  p99?: number;
}

/** Route results and problems listed per reload at most; failures first, the rest counted. */
export const reloadListed = 50;

/** A reload report as the page lists it: at most `reloadListed` routes and issues, the rest counted
 * (the start of 1,000 routes is one line per route otherwise, in every poll). */
export function briefReport(
  report: ReloadReport,
): ReloadReport & { moreRoutes?: number; moreIssues?: number } {
  const routes = [...report.routes].sort((a, b) => Number(a.ok) - Number(b.ok));
  const issues = report.issues ?? [];
  return {
    ...report,
    routes: routes.slice(0, reloadListed),
    ...(routes.length > reloadListed ? { moreRoutes: routes.length - reloadListed } : {}),
    ...(report.issues ? { issues: issues.slice(0, reloadListed) } : {}),
    ...(issues.length > reloadListed ? { moreIssues: issues.length - reloadListed } : {}),
  };
}

export interface StatusView {
  /** Milliseconds since the epoch, when this was computed: the page's clock for rates. */
  at: number;
  version: string;
  connected: boolean;
  node: string | null;
  ready: boolean;
  /** Why not ready: at most `reloadListed` reasons, the rest counted in `moreReasons`. */
  reasons: string[];
  moreReasons?: number;
  /** Upper bounds of the handler-time buckets, in seconds (the last bucket is +Inf). */
  bounds: number[];
  routes: RouteStatusView[];
  /** The last reloads, newest first (`briefReport`). */
  reloads: ReturnType<typeof briefReport>[];
}

type Sample = { labels: Record<string, string | number | undefined>; value: number; metricName?: string };

async function samplesOf(metric: Metric | undefined): Promise<Sample[]> {
  if (!metric) return [];
  return (await metric.get()).values as Sample[];
}

/** Sums `value` into `out[route][key]`. */
function add(out: Map<string, Record<string, number>>, route: string, key: string, value: number): void {
  let row = out.get(route);
  if (!row) {
    row = {};
    out.set(route, row);
  }
  row[key] = (row[key] ?? 0) + value;
}

/** Per route: a label's values summed (`warren_messages_total` by outcome, …); zeros are left
 * out unless `keepZeros` (a DLQ read as empty is not a DLQ that could not be read). */
async function byRoute(metric: Metric | undefined, key: (s: Sample) => string, keepZeros = false) {
  const out = new Map<string, Record<string, number>>();
  for (const sample of await samplesOf(metric)) {
    if (keepZeros || sample.value !== 0) add(out, String(sample.labels.route), key(sample), sample.value);
  }
  return out;
}

/**
 * The q-quantile of a histogram from its cumulative bucket counts, the way PromQL's
 * `histogram_quantile` estimates it: linear inside the bucket the rank falls in; the +Inf bucket
 * answers its lower bound. Null for an empty histogram.
 */
export function quantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let i = cumulative.findIndex((c) => c >= rank);
  if (i < 0) i = cumulative.length - 1;
  if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const below = i === 0 ? 0 : cumulative[i - 1]!;
  const inBucket = cumulative[i]! - below;
  return inBucket === 0 ? lower : lower + (bounds[i]! - lower) * ((rank - below) / inBucket);
}

/** Handler-time buckets per route, summed over its targets, and the bounds. */
async function durations(metric: Metric | undefined) {
  const bounds: number[] = [];
  const perRoute = new Map<string, number[]>();
  for (const s of await samplesOf(metric)) {
    if (!s.metricName?.endsWith('_bucket')) continue;
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    let at = bounds.indexOf(le);
    if (at < 0) at = bounds.push(le) - 1;
    const route = String(s.labels.route);
    const row = perRoute.get(route) ?? [];
    row[at] = (row[at] ?? 0) + s.value;
    perRoute.set(route, row);
  }
  return { bounds: bounds.filter(Number.isFinite), perRoute };
}

export interface StatusOptions {
  /** The DLQ depth gauge this admin app registered (`registerDlqGauge`). */
  dlq: Metric;
  registry?: Registry;
}

export async function statusView(runtime: StatusSource, options: StatusOptions): Promise<StatusView> {
  const metrics = options.registry ?? warrenRegistry;
  const metric = (name: string) => metrics.getSingleMetric(name);
  const [counts, rate, budget, dlq, handler] = await Promise.all([
    byRoute(metric('warren_messages_total'), (s) => String(s.labels.outcome)),
    byRoute(metric('warren_throttled_seconds_total'), () => 'seconds'),
    byRoute(metric('warren_byte_budget_held_seconds_total'), () => 'seconds'),
    byRoute(options.dlq, () => 'messages', true),
    durations(metric('warren_handler_duration_seconds')),
  ]);
  const readiness = runtime.readiness();
  const routes = runtime.status().map((route): RouteStatusView => {
    const view: RouteStatusView = { ...route, dlq: dlq.get(route.name)?.messages ?? null };
    const routeCounts = counts.get(route.name);
    if (routeCounts) view.counts = routeCounts;
    const rateLimit = rate.get(route.name)?.seconds ?? 0;
    const byteBudget = budget.get(route.name)?.seconds ?? 0;
    if (rateLimit > 0 || byteBudget > 0) view.heldSeconds = { rateLimit, byteBudget };
    const buckets = handler.perRoute.get(route.name);
    if (buckets && (buckets.at(-1) ?? 0) > 0) {
      view.buckets = buckets;
      view.p50 = quantile(0.5, handler.bounds, buckets)!;
      view.p99 = quantile(0.99, handler.bounds, buckets)!;
    }
    return view;
  });
  return {
    at: Date.now(),
    version: runtime.plan.version,
    ...runtime.connection(),
    ready: readiness.ready,
    reasons: readiness.reasons.slice(0, reloadListed),
    ...(readiness.reasons.length > reloadListed
      ? { moreReasons: readiness.reasons.length - reloadListed }
      : {}),
    bounds: handler.bounds,
    routes,
    reloads: runtime.reloads.map(briefReport),
  };
}
