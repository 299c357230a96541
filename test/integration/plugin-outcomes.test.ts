import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/** Two routes on one exchange: `plugged` runs the plugin under test, `plain` is a bystander. */
function routes(
  exchange: string,
  plugged: string,
  plain: string,
  url: string,
  to = `webhook: { url: "${url}" }`,
) {
  return `
exchanges: { ${exchange}: { type: direct } }
routes:
  plugged:
    from: { queue: ${plugged}, bind: [{ exchange: ${exchange}, key: p }] }
    transform: { file: p.js, timeout: 200ms, memoryLimitMb: 16 }
    to: { ${to} }
    retry: { attempts: 2, backoff: [100ms] }
  plain:
    from: { queue: ${plain}, bind: [{ exchange: ${exchange}, key: q }] }
    to: { webhook: { url: "${url}" } }
`;
}

describe('plugin outcomes on a running route', () => {
  const h = useHarness();
  let exchange: string;
  let plugged: string;
  let plain: string;

  beforeEach(async () => {
    exchange = uniqueName('po');
    plugged = uniqueName('po.plugged');
    plain = uniqueName('po.plain');
  });

  async function start(plugin: string, to?: string) {
    let files = routes(exchange, plugged, plain, h.receiver.url(), to);
    // A plugin target runs the plugin itself: no transform in front of it.
    if (to) files = files.replace(/ {4}transform: .*\n/, '');
    h.warren = await startWarren({ 'r.yaml': files }, h.broker, {
      plugins: { 'p.js': plugin },
    });
  }

  it('drops a message when the plugin returns null, and acks it', async () => {
    await start('export default () => null');
    await h.broker.publish(exchange, 'p', '{}', { messageId: 'd1' });
    await waitFor('the drop', () =>
      h.warren!.logs.some((l) => l.event === 'delivery' && l.outcome === 'drop'),
    );
    expect(h.receiver.requests).toHaveLength(0);
    expect(await h.broker.depth(plugged)).toBe(0);
    expect(await h.broker.depth(`${plugged}.dlq`)).toBe(0);
  });

  it('awaits an async plugin', async () => {
    await start('export default async (msg) => { await null; return { body: { async: true } }; }');
    await h.broker.publish(exchange, 'p', '{}', { messageId: 'a1' });
    await waitFor('the request', () => h.receiver.requests.length === 1);
    expect(JSON.parse(h.receiver.requests[0]!.body)).toEqual({ async: true });
  });

  it('retries a throwing plugin, then dead-letters it with the error message', async () => {
    await start("export default () => { throw new Error('no customer id'); }");
    await h.broker.publish(exchange, 'p', '{}', { messageId: 't1' });
    await waitFor('the dead letter', async () => (await h.broker.depth(`${plugged}.dlq`)) === 1);
    const [dead] = await h.broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toContain('no customer id');
    expect(dead!.properties.headers?.['x-warren-attempts']).toBe(2);
  });

  it('times out an endless loop while the other route keeps serving', async () => {
    await start('export default () => { for (;;) {} }');
    await h.broker.publish(exchange, 'p', '{}', { messageId: 'loop' });
    await h.broker.publish(exchange, 'q', 'bystander', { messageId: 'plain-1' });
    await waitFor('the bystander delivered', () => h.receiver.ids().has('plain-1'));
    await waitFor('the loop dead-lettered', async () => (await h.broker.depth(`${plugged}.dlq`)) === 1);
    const [dead] = await h.broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/timed out/);
    await h.broker.publish(exchange, 'q', 'after', { messageId: 'plain-2' });
    await waitFor('still serving', () => h.receiver.ids().has('plain-2'));
  });

  it('dead-letters a message that exhausts the memory limit, and the rebuilt isolate serves the next', async () => {
    const hog = `export default (msg) => {
      if (msg.body.hog) { const keep = []; for (;;) keep.push(new Array(1e6).fill(keep.length)); }
      return { body: { ok: true } };
    }`;
    h.warren = await startWarren(
      {
        'r.yaml': routes(exchange, plugged, plain, h.receiver.url()).replace(
          'timeout: 200ms',
          'timeout: 10s',
        ),
      },
      h.broker,
      { plugins: { 'p.js': hog } },
    );
    await h.broker.publish(exchange, 'p', '{"hog":true}', {
      messageId: 'hog',
      contentType: 'application/json',
    });
    await waitFor(
      'the hog dead-lettered',
      async () => (await h.broker.depth(`${plugged}.dlq`)) === 1,
      30_000,
    );
    const [dead] = await h.broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/memory/);
    await h.broker.publish(exchange, 'p', '{"hog":false}', {
      messageId: 'fine',
      contentType: 'application/json',
    });
    await waitFor('the next message delivered', () => h.receiver.ids().has('fine'));
  });

  it('holds the ack until every fan-out copy is confirmed, and retries when one is unroutable', async () => {
    const out = uniqueName('po.out');
    const sink = uniqueName('po.sink');
    await h.broker.channel.assertExchange(out, 'direct', { durable: false, autoDelete: false });
    await h.broker.channel.assertQueue(sink, { durable: false });
    await h.broker.channel.bindQueue(sink, out, 'routable');
    h.broker.track('exchange', out);
    h.broker.track('queue', sink);
    await start(
      `export default () => [{ exchange: '${out}', routingKey: 'routable' }, { exchange: '${out}', routingKey: 'nowhere' }]`,
      `plugin: { file: p.js }`,
    );
    await h.broker.publish(exchange, 'p', 'order', { messageId: 'f1' });
    await waitFor(
      'the dead letter after the retry',
      async () => (await h.broker.depth(`${plugged}.dlq`)) === 1,
    );
    const [dead] = await h.broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/unroutable/);
    // Published on each of the two attempts: at least once, never acked with a copy missing.
    expect(await h.broker.depth(sink)).toBe(2);
  });

  it('reloads exactly the routes that use an edited plugin', async () => {
    await start("export default () => ({ body: 'v1' })");
    await h.broker.publish(exchange, 'p', 'x', { messageId: 'v1' });
    await waitFor('v1', () => h.receiver.requests.some((r) => r.body === 'v1'));
    await writeFile(join(h.warren!.pluginsDir, 'p.js'), "export default () => ({ body: 'v2' })");
    const report = await h.warren!.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'plugged', change: 'handler', ok: true }]);
    await h.broker.publish(exchange, 'p', 'x', { messageId: 'v2' });
    await waitFor('v2', () => h.receiver.requests.some((r) => r.body === 'v2'));
  });

  it('keeps the previous version when an edited plugin no longer compiles', async () => {
    await start("export default () => ({ body: 'good' })");
    await writeFile(join(h.warren!.pluginsDir, 'p.js'), 'export default ( =>');
    const report = await h.warren!.reloader.reload('test');
    expect(report?.result).toBe('partial');
    expect(report?.routes[0]).toMatchObject({
      route: 'plugged',
      ok: false,
      error: { code: 'WARREN_E_PLUGIN_FAILED' },
    });
    await h.broker.publish(exchange, 'p', 'x', { messageId: 'still' });
    await waitFor('the old version still serving', () => h.receiver.requests.some((r) => r.body === 'good'));
  });
});
