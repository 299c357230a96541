import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, uniqueName, waitFor } from '../helpers/broker.js';
import { Receiver } from '../helpers/receiver.js';
import { type RunningWarren, startWarren } from '../helpers/warren.js';

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
  let broker: TestBroker;
  let receiver: Receiver;
  let warren: RunningWarren | undefined;
  let exchange: string;
  let plugged: string;
  let plain: string;

  beforeEach(async () => {
    broker = await TestBroker.connect();
    receiver = await Receiver.start();
    exchange = uniqueName('po');
    plugged = uniqueName('po.plugged');
    plain = uniqueName('po.plain');
  });

  afterEach(async () => {
    await warren?.stop();
    await receiver.close();
    await broker.close();
  });

  async function start(plugin: string, to?: string) {
    let files = routes(exchange, plugged, plain, receiver.url(), to);
    // A plugin target runs the plugin itself: no transform in front of it.
    if (to) files = files.replace(/ {4}transform: .*\n/, '');
    warren = await startWarren({ 'r.yaml': files }, broker, {
      plugins: { 'p.js': plugin },
    });
  }

  it('drops a message when the plugin returns null, and acks it', async () => {
    await start('export default () => null');
    await broker.publish(exchange, 'p', '{}', { messageId: 'd1' });
    await waitFor('the drop', () => warren!.logs.some((l) => l.event === 'delivery' && l.outcome === 'drop'));
    expect(receiver.requests).toHaveLength(0);
    expect(await broker.depth(plugged)).toBe(0);
    expect(await broker.depth(`${plugged}.dlq`)).toBe(0);
  });

  it('awaits an async plugin', async () => {
    await start('export default async (msg) => { await null; return { body: { async: true } }; }');
    await broker.publish(exchange, 'p', '{}', { messageId: 'a1' });
    await waitFor('the request', () => receiver.requests.length === 1);
    expect(JSON.parse(receiver.requests[0]!.body)).toEqual({ async: true });
  });

  it('retries a throwing plugin, then dead-letters it with the error message', async () => {
    await start("export default () => { throw new Error('no customer id'); }");
    await broker.publish(exchange, 'p', '{}', { messageId: 't1' });
    await waitFor('the dead letter', async () => (await broker.depth(`${plugged}.dlq`)) === 1);
    const [dead] = await broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toContain('no customer id');
    expect(dead!.properties.headers?.['x-warren-attempts']).toBe(2);
  });

  it('times out an endless loop while the other route keeps serving', async () => {
    await start('export default () => { for (;;) {} }');
    await broker.publish(exchange, 'p', '{}', { messageId: 'loop' });
    await broker.publish(exchange, 'q', 'bystander', { messageId: 'plain-1' });
    await waitFor('the bystander delivered', () => receiver.ids().has('plain-1'));
    await waitFor('the loop dead-lettered', async () => (await broker.depth(`${plugged}.dlq`)) === 1);
    const [dead] = await broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/timed out/);
    await broker.publish(exchange, 'q', 'after', { messageId: 'plain-2' });
    await waitFor('still serving', () => receiver.ids().has('plain-2'));
  });

  it('dead-letters a message that exhausts the memory limit, and the rebuilt isolate serves the next', async () => {
    const hog = `export default (msg) => {
      if (msg.body.hog) { const keep = []; for (;;) keep.push(new Array(1e6).fill(keep.length)); }
      return { body: { ok: true } };
    }`;
    warren = await startWarren(
      {
        'r.yaml': routes(exchange, plugged, plain, receiver.url()).replace('timeout: 200ms', 'timeout: 10s'),
      },
      broker,
      { plugins: { 'p.js': hog } },
    );
    await broker.publish(exchange, 'p', '{"hog":true}', {
      messageId: 'hog',
      contentType: 'application/json',
    });
    await waitFor('the hog dead-lettered', async () => (await broker.depth(`${plugged}.dlq`)) === 1, 30_000);
    const [dead] = await broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/memory/);
    await broker.publish(exchange, 'p', '{"hog":false}', {
      messageId: 'fine',
      contentType: 'application/json',
    });
    await waitFor('the next message delivered', () => receiver.ids().has('fine'));
  });

  it('holds the ack until every fan-out copy is confirmed, and retries when one is unroutable', async () => {
    const out = uniqueName('po.out');
    const sink = uniqueName('po.sink');
    await broker.channel.assertExchange(out, 'direct', { durable: false, autoDelete: false });
    await broker.channel.assertQueue(sink, { durable: false });
    await broker.channel.bindQueue(sink, out, 'routable');
    broker.track('exchange', out);
    broker.track('queue', sink);
    await start(
      `export default () => [{ exchange: '${out}', routingKey: 'routable' }, { exchange: '${out}', routingKey: 'nowhere' }]`,
      `plugin: { file: p.js }`,
    );
    await broker.publish(exchange, 'p', 'order', { messageId: 'f1' });
    await waitFor(
      'the dead letter after the retry',
      async () => (await broker.depth(`${plugged}.dlq`)) === 1,
    );
    const [dead] = await broker.drain(`${plugged}.dlq`);
    expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/unroutable/);
    // Published on each of the two attempts: at least once, never acked with a copy missing.
    expect(await broker.depth(sink)).toBe(2);
  });

  it('reloads exactly the routes that use an edited plugin', async () => {
    await start("export default () => ({ body: 'v1' })");
    await broker.publish(exchange, 'p', 'x', { messageId: 'v1' });
    await waitFor('v1', () => receiver.requests.some((r) => r.body === 'v1'));
    await writeFile(join(warren!.pluginsDir, 'p.js'), "export default () => ({ body: 'v2' })");
    const report = await warren!.reloader.reload('test');
    expect(report?.routes).toEqual([{ route: 'plugged', change: 'handler', ok: true }]);
    await broker.publish(exchange, 'p', 'x', { messageId: 'v2' });
    await waitFor('v2', () => receiver.requests.some((r) => r.body === 'v2'));
  });

  it('keeps the previous version when an edited plugin no longer compiles', async () => {
    await start("export default () => ({ body: 'good' })");
    await writeFile(join(warren!.pluginsDir, 'p.js'), 'export default ( =>');
    const report = await warren!.reloader.reload('test');
    expect(report?.result).toBe('partial');
    expect(report?.routes[0]).toMatchObject({
      route: 'plugged',
      ok: false,
      error: { code: 'WARREN_E_PLUGIN_FAILED' },
    });
    await broker.publish(exchange, 'p', 'x', { messageId: 'still' });
    await waitFor('the old version still serving', () => receiver.requests.some((r) => r.body === 'good'));
  });
});
