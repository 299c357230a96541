// What the page remembers between polls: per route, the cumulative counts of the last minutes,
// turned into rates (two polls make one rate) and windowed handler-time quantiles. The server
// keeps no history: closing the page forgets it.

export const windowMs = 5 * 60_000;

/** The outcomes each chart series sums. */
export const series = [
  { key: 'delivered', label: 'delivered', outcomes: ['ack'] },
  { key: 'retried', label: 'retried', outcomes: ['retry'] },
  { key: 'dead', label: 'dead-lettered', outcomes: ['dead_letter'] },
  { key: 'filtered', label: 'filtered', outcomes: ['filtered', 'drop'] },
];

const total = (counts, outcomes) => outcomes.reduce((sum, o) => sum + (counts[o] ?? 0), 0);

export class History {
  #samples = new Map();

  /** Adds one poll's answer; forgets routes that are gone and samples older than the window. */
  add(status) {
    const names = new Set();
    for (const route of status.routes) {
      names.add(route.name);
      const list = this.#samples.get(route.name) ?? [];
      list.push({
        at: status.at,
        counts: route.counts ?? {},
        buckets: route.buckets ?? [],
        held: route.heldSeconds ?? { rateLimit: 0, byteBudget: 0 },
      });
      while (list.length > 2 && list[0].at < status.at - windowMs) list.shift();
      this.#samples.set(route.name, list);
    }
    for (const name of this.#samples.keys()) if (!names.has(name)) this.#samples.delete(name);
  }

  /** uPlot data: [times in seconds, then one rate array per series]; a counter that went down
   * (a restart of the series) counts as 0. */
  chart(name) {
    const list = this.#samples.get(name) ?? [];
    const data = [[], ...series.map(() => [])];
    for (let i = 1; i < list.length; i++) {
      const dt = (list[i].at - list[i - 1].at) / 1000;
      if (dt <= 0) continue;
      data[0].push(list[i].at / 1000);
      series.forEach((s, j) => {
        const delta = total(list[i].counts, s.outcomes) - total(list[i - 1].counts, s.outcomes);
        data[j + 1].push(Math.max(0, delta) / dt);
      });
    }
    return data;
  }

  /** The latest rate of each series, or null before the second poll. */
  latest(name) {
    const data = this.chart(name);
    const last = data[0].length - 1;
    return Object.fromEntries(series.map((s, j) => [s.key, last < 0 ? null : data[j + 1][last]]));
  }

  /** Share of the window the route spent held by its rate limit and by its byte budget (0..1). */
  heldShare(name) {
    const list = this.#samples.get(name) ?? [];
    if (list.length < 2) return { rateLimit: 0, byteBudget: 0 };
    const first = list[0];
    const last = list[list.length - 1];
    const span = (last.at - first.at) / 1000;
    const share = (k) => (span > 0 ? Math.min(1, Math.max(0, (last.held[k] - first.held[k]) / span)) : 0);
    return { rateLimit: share('rateLimit'), byteBudget: share('byteBudget') };
  }

  /** p50 and p99 of the deliveries finished within the window, from the bucket counts; null
   * when none finished in it. */
  quantiles(name, bounds) {
    const list = this.#samples.get(name) ?? [];
    if (list.length < 2) return null;
    const first = list[0].buckets;
    const delta = list[list.length - 1].buckets.map((c, i) => c - (first[i] ?? 0));
    if (delta.some((d) => d < 0) || (delta[delta.length - 1] ?? 0) === 0) return null;
    return { p50: quantile(0.5, bounds, delta), p99: quantile(0.99, bounds, delta) };
  }
}

/** histogram_quantile over cumulative bucket counts (the last bucket is +Inf), as the server does. */
export function quantile(q, bounds, cumulative) {
  const count = cumulative[cumulative.length - 1] ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  let i = cumulative.findIndex((c) => c >= rank);
  if (i < 0) i = cumulative.length - 1;
  if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
  const lower = i === 0 ? 0 : bounds[i - 1];
  const below = i === 0 ? 0 : cumulative[i - 1];
  const inBucket = cumulative[i] - below;
  return inBucket === 0 ? lower : lower + (bounds[i] - lower) * ((rank - below) / inBucket);
}
