import { Histogram, type HistogramConfiguration } from 'prom-client';

/** One labelled series of a `SeriesHistogram`: observations per bucket (not cumulative; the last
 * slot counts those above every bound), their sum and their count, as plain numbers. */
export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly bounds: readonly number[];
  readonly buckets: number[];
  sum: number;
  count: number;
}

export function observe(series: Series, value: number): void {
  const bounds = series.bounds;
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  series.buckets[i] = series.buckets[i]! + 1;
  series.sum += value;
  series.count++;
}

type HistogramData = Awaited<ReturnType<Histogram['get']>>;
type Sample = { metricName: string; labels: Record<string, string | number>; value: number };

/**
 * A histogram for the per-delivery path. prom-client's own Histogram hashes and validates the
 * labels on every observe, the largest per-delivery cost telemetry had; this one hands out each
 * series once (`series`), is observed as plain numbers (`observe`) and builds the samples only when
 * the registry asks, the way the base class renders them: cumulative `_bucket` samples with `le`,
 * `+Inf`, `_sum`, `_count`.
 */
export class SeriesHistogram<L extends string> extends Histogram<L> {
  // Plain properties, not #private ones: prom-client's constructor calls reset() before the fields
  // of a subclass exist, and reset() reads `list` (undefined then: nothing to clear).
  readonly list: Series[] = [];
  readonly metricName: string;
  readonly help: string;
  readonly bounds: readonly number[];

  constructor(config: HistogramConfiguration<L> & { buckets: number[] }) {
    super(config);
    this.metricName = config.name;
    this.help = config.help;
    this.bounds = config.buckets;
  }

  series(labels: Record<L, string>): Series {
    const bounds = this.bounds;
    const series: Series = { labels, bounds, buckets: bounds.map(() => 0).concat(0), sum: 0, count: 0 };
    this.list.push(series);
    return series;
  }

  override async get(): Promise<HistogramData> {
    const name = this.metricName;
    const bucket = `${name}_bucket`;
    const values: Sample[] = [];
    for (const { labels, bounds, buckets, sum, count } of this.list ?? ([] as Series[])) {
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) {
        cumulative += buckets[i]!;
        values.push({ metricName: bucket, labels: { ...labels, le: bounds[i]! }, value: cumulative });
      }
      values.push(
        { metricName: bucket, labels: { ...labels, le: '+Inf' }, value: count },
        { metricName: `${name}_sum`, labels, value: sum },
        { metricName: `${name}_count`, labels, value: count },
      );
    }
    // The declared types miss both the `le` label and the type's runtime value, 'histogram'.
    return {
      name,
      help: this.help,
      type: 'histogram',
      aggregator: 'sum',
      values,
    } as unknown as HistogramData;
  }

  /** What the registry renders /metrics from when a metric has it (the base class does). */
  getForPromString(): Promise<HistogramData> {
    return this.get();
  }

  override reset(): void {
    super.reset();
    for (const series of this.list ?? ([] as Series[])) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
