import type { ChannelModel } from 'amqplib';
import type { Gauge, Registry } from 'prom-client';
import { registerDlqMessages } from '../telemetry/metrics.js';
import { openChannel, readyMessages, type ToolChannel } from './channel.js';

/** Scrapes within this long of the last look reuse its numbers, so /metrics never hammers the broker. */
export const dlqGaugeCacheMs = 5_000;

export interface DlqDepthSource {
  /** The running routes and their dead-letter queues. */
  routes(): ReadonlyArray<{ name: string; deadLetterQueue: string }>;
  /** Ready messages per queue; a queue left out (missing, no connection) gets no sample. */
  depths(queues: readonly string[]): Promise<Map<string, number>>;
}

/**
 * `depths` for a DLQ depth source: `checkQueue` on one channel of `connection()` (Warren's consuming
 * connection, when it has one), opening another when a missing queue closes it.
 */
export function queueDepthsOn(
  connection: () => ChannelModel | undefined,
): (queues: readonly string[]) => Promise<Map<string, number>> {
  return async function checkQueueDepths(queues) {
    const out = new Map<string, number>();
    let tool: ToolChannel | undefined;
    try {
      for (const queue of queues) {
        const model = connection();
        if (!model) break;
        try {
          if (!tool || tool.closed) tool = await openChannel(model);
          out.set(queue, await readyMessages(tool, queue));
        } catch {
          // missing queue or lost connection: no sample for it this time
        }
      }
    } finally {
      await tool?.close();
    }
    return out;
  };
}

/**
 * Registers `warren_dlq_messages{route}`: the messages in each route's DLQ, read when /metrics is
 * scraped and cached for `cacheMs`; concurrent scrapes share one look. Registering again (a new
 * runtime in the same process) replaces the previous gauge and its source.
 */
export function registerDlqGauge(
  source: DlqDepthSource,
  options: { registry?: Registry; cacheMs?: number } = {},
): Gauge<'route'> {
  const cacheMs = options.cacheMs ?? dlqGaugeCacheMs;
  let cached: { at: number; samples: Map<string, number> } | undefined;
  let looking: Promise<Map<string, number>> | undefined;

  const look = async (): Promise<Map<string, number>> => {
    const routes = source.routes();
    const depths = await source.depths([...new Set(routes.map((r) => r.deadLetterQueue))]);
    const samples = new Map<string, number>();
    for (const route of routes) {
      const depth = depths.get(route.deadLetterQueue);
      if (depth !== undefined) samples.set(route.name, depth);
    }
    cached = { at: performance.now(), samples };
    return samples;
  };

  const samples = (): Promise<Map<string, number>> => {
    if (cached && performance.now() - cached.at < cacheMs) return Promise.resolve(cached.samples);
    looking ??= look().finally(() => {
      looking = undefined;
    });
    return looking;
  };

  return registerDlqMessages(async function collectDlqDepths() {
    const current = await samples().catch(() => new Map<string, number>());
    this.reset(); // a removed route, or a DLQ that could not be read, has no sample
    for (const [route, depth] of current) this.set({ route }, depth);
  }, options.registry);
}
