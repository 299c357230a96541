import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, spawnWarren, type WarrenProcess, waitReady } from '../helpers/cli.js';
import { trackPlan, useHarness } from '../helpers/warren.js';

/** Resolves with the exit, or rejects when the process is still running after `ms`. */
function exitWithin(
  proc: WarrenProcess,
  ms: number,
): Promise<{ code: number | null; signal: string | null }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    proc.exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`warren still running ${ms} ms after SIGTERM`)), ms);
    }),
  ]);
}

describe('SIGTERM with deliveries in flight', () => {
  const h = useHarness();

  /** Writes one webhook route (every queue it declares is deleted after the test). */
  async function writeRoute(queue: string, extra: string): Promise<string> {
    const dir = await h.routesDir({
      'routes.yaml': `
routes:
  slow:
    from: { queue: ${queue} }
${extra}
`,
    });
    await trackPlan(h.broker, dir);
    return dir;
  }

  /** The real CLI on `routesDir`, once ready; killed after the test if it is still running. */
  async function start(routesDir: string, drainTimeout: string): Promise<WarrenProcess> {
    const warren = await spawnWarren({ routes: routesDir, drainTimeout });
    h.defer(() => killCli(warren));
    await waitReady(warren);
    return warren;
  }

  it('finishes the deliveries in flight, exits 0 and loses nothing', async () => {
    const queue = uniqueName('shutdown');
    // Each request takes ~300 ms; at most 8 at once, 16 more held unstarted by the prefetch.
    const routesDir = await writeRoute(
      queue,
      `    prefetch: 24
    concurrency: 8
    to: { webhook: { url: "${h.receiver.url()}", timeout: 30s } }`,
    );
    const answered = new Set<string>();
    h.receiver.responder = async (req) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      answered.add(String(req.headers['webhook-id']));
      return 200;
    };
    const warren = await start(routesDir, '5s');

    const published: string[] = [];
    for (let i = 0; i < 50; i++) {
      const id = `${queue}-${i}`;
      await h.broker.publish('', queue, JSON.stringify({ n: i }), { messageId: id });
      published.push(id);
    }
    await waitFor('requests in flight at the receiver', () => h.receiver.requests.length >= 8);
    const startedBeforeSignal = h.receiver.requests.length;
    warren.child.kill('SIGTERM');
    const exit = await exitWithin(warren, 5_000 + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });

    // Every request that reached the receiver was answered and acked before the channel closed.
    expect(answered.size).toBe(h.receiver.ids().size);
    expect(h.receiver.requests.length).toBeGreaterThanOrEqual(startedBeforeSignal);
    const stopped = warren.lines.find((l) => l.event === 'stopped');
    expect(stopped?.unfinished).toBe(0);

    // Nothing lost: each id was delivered with a 2xx, or is back in the queue, and not both.
    const left = (await h.broker.drain(queue)).map((m) => String(m.properties.messageId));
    const delivered = h.receiver.ids();
    expect(published.filter((id) => !delivered.has(id) && !left.includes(id))).toEqual([]);
    expect(left.filter((id) => delivered.has(id))).toEqual([]);
    expect(delivered.size + left.length).toBe(published.length);
    // Shutdown happened mid-stream: some were delivered, some handed back.
    expect(delivered.size).toBeGreaterThan(0);
    expect(left.length).toBeGreaterThan(0);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });

  it('stops at the drain deadline, exits 0 and hands a hung delivery back to the queue', async () => {
    const queue = uniqueName('shutdown.hung');
    const routesDir = await writeRoute(
      queue,
      `    to: { webhook: { url: "${h.receiver.url()}", timeout: 60s } }`,
    );
    // Never answers: the delivery stays in the handler until Warren gives up on it.
    h.receiver.responder = () => 'handled';
    const warren = await start(routesDir, '1s');

    await h.broker.publish('', queue, '{"hung":true}', { messageId: 'hung-1' });
    await waitFor('the request at the hung receiver', () => h.receiver.ids().has('hung-1'));
    warren.child.kill('SIGTERM');
    const exit = await exitWithin(warren, 1_000 + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(warren.lines.find((l) => l.event === 'stopped')?.unfinished).toBe(1);

    await waitFor(
      'the unfinished delivery back in the queue',
      async () => (await h.broker.depth(queue)) === 1,
    );
    const [back] = await h.broker.drain(queue);
    expect(back?.properties.messageId).toBe('hung-1');
    expect(back?.fields.redelivered).toBe(true);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });
});
