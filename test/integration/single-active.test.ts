import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { type RunningWarren, startWarren, stopWarren, useHarness } from '../helpers/warren.js';

const run = promisify(execFile);

/** A queue's arguments as the broker holds them (rabbitmqctl only reads). */
async function queueArguments(queue: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_queues',
    'name',
    'arguments',
    '--formatter',
    'json',
  ]);
  // Each argument is listed as [name, type, value].
  const rows = JSON.parse(stdout) as Array<{ name: string; arguments: Array<[string, string, unknown]> }>;
  const row = rows.find((r) => r.name === queue);
  if (!row) throw new Error(`queue ${queue} not found`);
  return Object.fromEntries(row.arguments.map(([name, , value]) => [name, value]));
}

type RouteView = { name: string; state: string; singleActiveConsumer?: string; error?: { message: string } };

async function routeView(warren: RunningWarren, name: string): Promise<RouteView | undefined> {
  const body = (await (await warren.admin.request('/api/routes')).json()) as { routes: RouteView[] };
  return body.routes.find((r) => r.name === name);
}

/**
 * `replicas` and `singleActiveConsumer` reach the queues RabbitMQ holds, and two in-process
 * Warrens on one single-active route share it as one active consumer and one standing by.
 */
describe('replicas and singleActiveConsumer on the broker', () => {
  const h = useHarness();

  it('declares x-quorum-initial-group-size and x-single-active-consumer; one Warren is active, the other stands by', async () => {
    const queue = uniqueName('sac');
    const routes = {
      'r.yaml': `
routes:
  ordered:
    from: { queue: ${queue}, replicas: 3 }
    singleActiveConsumer: true
    retry: { attempts: 2, backoff: [1s] }
    to: { webhook: { url: "${h.receiver.url('/ordered')}" } }
`,
    };
    h.warren = await startWarren(routes, h.broker);
    const second = await startWarren(routes, h.broker);
    h.defer(() => stopWarren(second));

    expect(await queueArguments(queue)).toMatchObject({
      'x-queue-type': 'quorum',
      'x-quorum-initial-group-size': 3,
      'x-single-active-consumer': true,
    });
    expect(await queueArguments(`${queue}.dlq`)).toMatchObject({ 'x-quorum-initial-group-size': 3 });
    expect(await queueArguments(`warren.retry.${queue}.1s`)).toMatchObject({
      'x-quorum-initial-group-size': 3,
    });
    // Both subscribed, but a single-active quorum queue counts only the consumer it delivers to.
    expect((await routeView(second, 'ordered'))?.state).toBe('consuming');
    expect(await h.broker.consumers(queue)).toBe(1);

    // Nothing delivered yet: neither can know it is the active one.
    expect((await routeView(h.warren, 'ordered'))?.singleActiveConsumer).toBe('standby-or-idle');
    expect((await routeView(second, 'ordered'))?.singleActiveConsumer).toBe('standby-or-idle');

    for (let i = 0; i < 20; i++) await h.broker.publish('', queue, `{"n":${i}}`, { messageId: `m-${i}` });
    await waitFor('every message delivered', () => h.receiver.requests.length >= 20);
    expect(h.receiver.requests.map((r) => (JSON.parse(r.body) as { n: number }).n)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
    // The first subscriber is the active one: it got everything, the second nothing.
    expect((await routeView(h.warren, 'ordered'))?.singleActiveConsumer).toBe('active');
    expect((await routeView(second, 'ordered'))?.singleActiveConsumer).toBe('standby-or-idle');
  });

  it('refuses to add singleActiveConsumer to an existing queue with a conflict naming the argument', async () => {
    const queue = uniqueName('sac-conflict');
    const route = (extra: string) => ({
      'r.yaml': `
routes:
  turned:
    from: { queue: ${queue} }
${extra}    to: { webhook: { url: "${h.receiver.url('/turned')}" } }
`,
    });
    const before = await startWarren(route(''), h.broker);
    await before.stop();
    h.warren = await startWarren(route('    singleActiveConsumer: true\n'), h.broker);
    const view = await routeView(h.warren, 'turned');
    expect(view?.state).toBe('failed');
    expect(view?.error?.message).toContain(`route \`turned\`: cannot declare queue "${queue}"`);
    expect(view?.error?.message).toContain('`x-single-active-consumer`');
    expect(await queueArguments(queue)).not.toHaveProperty('x-single-active-consumer');
  });
});
