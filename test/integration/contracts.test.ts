import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../config/route-dir.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { accounting } from '../helpers/load.js';
import { metricsText, sample } from '../helpers/metrics.js';
import { nextReload, replaceFile, startWarren, useHarness } from '../helpers/warren.js';

/** The repository's example contracts: order v1, v2 (requires order.channel), common/money. */
async function exampleSchemas(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of ['order.v1.json', 'order.v2.json', 'common/money.json']) {
    files[name] = await readFile(join(repoRoot, 'schemas', name), 'utf8');
  }
  return files;
}

async function exampleOrders(): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await readFile(join(repoRoot, 'schemas/order.v1.examples.json'), 'utf8')) as Array<
    Record<string, unknown>
  >;
}

describe('message contracts (schema:)', () => {
  const h = useHarness();

  it('delivers a valid body and dead-letters an invalid one at once, with pointer, message and schema', async () => {
    const exchange = uniqueName('contract');
    const queue = uniqueName('contract.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    schema: order.v1.json
    to: { webhook: { url: "${h.receiver.url()}" } }
    retry: { attempts: 5, backoff: [1s] }
`,
      },
      h.broker,
      { schemas: await exampleSchemas() },
    );
    const [valid] = await exampleOrders();
    const wrongSku = structuredClone(valid!) as { order: { lines: Array<{ sku: unknown }> } };
    wrongSku.order.lines[1]!.sku = 42;
    const publish = (id: string, body: string | Buffer, extra: Record<string, unknown> = {}) =>
      h.broker.publish(exchange, 'order.paid', body, {
        messageId: id,
        contentType: 'application/json',
        ...extra,
      });
    await publish('ok', JSON.stringify(valid));
    await publish('bad-sku', JSON.stringify(wrongSku));
    await publish('not-json', 'order 1001, paid');
    await publish('gzipped', gzipSync(JSON.stringify(valid)), { contentEncoding: 'gzip' });

    const dlq = `${queue}.dlq`;
    await waitFor('three dead letters', async () => (await h.broker.depth(dlq)) === 3);
    await waitFor('the valid one delivered', () => h.receiver.requests.length === 1);
    expect(h.receiver.requests[0]!.headers['webhook-id']).toBe('ok');
    // The DLQ view (peeked, so the messages stay) names the schema beside pointer and message.
    const peek = (await (await h.warren.admin.request('/api/dlq/orders')).json()) as {
      messages: Array<{ messageId: string; error: string; schema?: string }>;
    };
    expect(peek.messages.find((m) => m.messageId === 'bad-sku')).toMatchObject({
      error: 'schema: /order/lines/1/sku must be string',
      schema: 'order.v1.json',
    });
    const letters = new Map((await h.broker.drain(dlq)).map((m) => [m.properties.messageId as string, m]));
    const headers = (id: string) => letters.get(id)!.properties.headers as Record<string, unknown>;

    expect(headers('bad-sku')['x-warren-error']).toBe('schema: /order/lines/1/sku must be string');
    expect(headers('bad-sku')['x-warren-schema']).toBe('order.v1.json');
    // At once: the first attempt, never sent to a delay tier.
    expect(headers('bad-sku')['x-warren-attempts']).toBe(1);
    expect(letters.get('bad-sku')!.content.toString()).toBe(JSON.stringify(wrongSku));
    expect(headers('not-json')['x-warren-error']).toMatch(/^schema: body is not JSON \(Unexpected token/);
    expect(headers('gzipped')['x-warren-error']).toMatch(
      /^schema: body is not JSON \(content-encoding "gzip": Warren does not decode/,
    );
    expect(h.receiver.requests).toHaveLength(1);

    const metrics = await metricsText(h.warren.admin);
    expect(sample(metrics, 'warren_messages_total', { route: 'orders', outcome: 'invalid' })).toBe(3);
    expect(sample(metrics, 'warren_messages_total', { route: 'orders', outcome: 'ack' })).toBe(1);
    expect(sample(metrics, 'warren_messages_total', { route: 'orders', outcome: 'retry' })).toBe(undefined);
    const logged = h.warren.logs.find((l) => l.event === 'delivery' && l.id === 'bad-sku');
    expect(logged).toMatchObject({ outcome: 'invalid', reason: 'schema: /order/lines/1/sku must be string' });
  });

  it('chooses the version by a header, dead-letters a message without one, and passes it with otherwise: pass', async () => {
    const exchange = uniqueName('contract.v');
    const strict = uniqueName('contract.strict');
    const lenient = uniqueName('contract.lenient');
    const choice = (otherwise: string) =>
      `{ by: "header:x-schema-version", map: { "1": order.v1.json, "2": order.v2.json }, otherwise: ${otherwise} }`;
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  strict:
    from: { queue: ${strict}, bind: [{ exchange: ${exchange}, key: "strict" }] }
    schema: ${choice('deadLetter')}
    to: { webhook: { url: "${h.receiver.url('/strict')}" } }
  lenient:
    from: { queue: ${lenient}, bind: [{ exchange: ${exchange}, key: "lenient" }] }
    schema: ${choice('pass')}
    to: { webhook: { url: "${h.receiver.url('/lenient')}" } }
`,
      },
      h.broker,
      { schemas: await exampleSchemas() },
    );
    // A v1 order has no channel: valid as version 1, invalid as version 2.
    const body = JSON.stringify((await exampleOrders())[0]);
    const publish = (key: string, id: string, version?: string | number) =>
      h.broker.publish(exchange, key, body, {
        messageId: id,
        ...(version === undefined ? {} : { headers: { 'x-schema-version': version } }),
      });
    await publish('strict', 'as-v1', '1');
    await publish('strict', 'as-v2', 2);
    await publish('strict', 'no-version');
    await publish('strict', 'v9', '9');
    await publish('lenient', 'lenient-none');
    await publish('lenient', 'lenient-v2', '2');

    await waitFor('three dead letters', async () => (await h.broker.depth(`${strict}.dlq`)) === 3);
    await waitFor('one dead letter', async () => (await h.broker.depth(`${lenient}.dlq`)) === 1);
    await waitFor('two deliveries', () => h.receiver.requests.length === 2);
    const delivered = h.receiver.requests.map((r) => `${r.path} ${r.headers['webhook-id']}`).sort();
    expect(delivered).toEqual(['/lenient lenient-none', '/strict as-v1']);
    const strictLetters = new Map(
      (await h.broker.drain(`${strict}.dlq`)).map((m) => [
        m.properties.messageId as string,
        m.properties.headers as Record<string, unknown>,
      ]),
    );
    expect(strictLetters.get('as-v2')).toMatchObject({
      'x-warren-schema': 'order.v2.json',
      'x-warren-error': "schema: /order must have required property 'channel'",
    });
    expect(strictLetters.get('no-version')!['x-warren-error']).toBe(
      'schema: no schema for this message: header x-schema-version is absent',
    );
    expect(strictLetters.get('no-version')!['x-warren-schema']).toBe(undefined);
    expect(strictLetters.get('v9')!['x-warren-error']).toBe(
      'schema: no schema for this message: header x-schema-version "9" is not in the map ("1", "2")',
    );
    const [lenientLetter] = await h.broker.drain(`${lenient}.dlq`);
    expect(lenientLetter!.properties.messageId).toBe('lenient-v2');
  });

  it('chooses the version by the AMQP type property', async () => {
    const exchange = uniqueName('contract.t');
    const queue = uniqueName('contract.t.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  typed:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    schema: { by: type, map: { order.v1: order.v1.json, order.v2: order.v2.json } }
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
      { schemas: await exampleSchemas() },
    );
    const body = JSON.stringify((await exampleOrders())[0]);
    await h.broker.publish(exchange, 'x', body, { messageId: 't1', type: 'order.v1' });
    await h.broker.publish(exchange, 'x', body, { messageId: 't2', type: 'order.v2' });
    await h.broker.publish(exchange, 'x', body, { messageId: 't3' });

    await waitFor('two dead letters', async () => (await h.broker.depth(`${queue}.dlq`)) === 2);
    await waitFor('one delivery', () => h.receiver.requests.length === 1);
    expect(h.receiver.requests[0]!.headers['webhook-id']).toBe('t1');
    const letters = await h.broker.drain(`${queue}.dlq`);
    expect(letters.map((m) => [m.properties.messageId, m.properties.headers?.['x-warren-error']])).toEqual([
      ['t2', "schema: /order must have required property 'channel'"],
      ['t3', 'schema: no schema for this message: type is absent'],
    ]);
  });

  it("dead-letters at once what a transform would send against the target's schema, the receiver never called", async () => {
    const exchange = uniqueName('contract.out');
    const queue = uniqueName('contract.out.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  reshaped:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    transform: pick.js
    to: { webhook: { url: "${h.receiver.url()}", schema: receiver.json } }
`,
      },
      h.broker,
      {
        schemas: {
          'receiver.json':
            '{ "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } }',
        },
        plugins: { 'pick.js': 'export default (msg) => ({ body: { id: msg.body.ref } })' },
      },
    );
    await h.broker.publish(exchange, 'e', '{"ref":"r-1"}', {
      messageId: 'fits',
      contentType: 'application/json',
    });
    await h.broker.publish(exchange, 'e', '{"ref":7}', {
      messageId: 'breaks',
      contentType: 'application/json',
    });

    await waitFor('one dead letter', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    await waitFor('one delivery', () => h.receiver.requests.length === 1);
    expect(JSON.parse(h.receiver.requests[0]!.body)).toEqual({ id: 'r-1' });
    const [letter] = await h.broker.drain(`${queue}.dlq`);
    expect(letter!.properties.messageId).toBe('breaks');
    expect(letter!.properties.headers).toMatchObject({
      'x-warren-error': 'schema: /id must be string',
      'x-warren-schema': 'receiver.json',
      'x-warren-attempts': 1,
    });
    // The original body is what is dead-lettered, as for every dead letter of a transformed route.
    expect(letter!.content.toString()).toBe('{"ref":7}');
  });

  it('applies a schema edited on disk by a hot reload, messages flowing throughout, nothing lost', async () => {
    const exchange = uniqueName('contract.hot');
    const queue = uniqueName('contract.hot.q');
    const schema = (required: string[]) =>
      JSON.stringify({ type: 'object', required, properties: { id: { type: 'string' } } });
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  hot:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    schema: event.json
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
      { schemas: { 'event.json': schema(['id']) }, watch: true },
    );
    const publisher = h.publisher(exchange, 'e', 'hot', { everyMs: 20, perTick: 1 });
    publisher.start();
    await waitFor('deliveries under the first schema', () => h.receiver.requests.length >= 10);
    const previous = h.warren.runtime.lastReload;
    // The steady messages carry only `id`: under the edited schema they are invalid.
    await replaceFile(h.warren.schemasDir, 'event.json', schema(['id', 'tenant']));
    const report = await nextReload(h.warren, previous);
    expect(report.result).toBe('applied');
    expect(report.routes).toEqual([expect.objectContaining({ route: 'hot', change: 'handler' })]);
    const dlq = `${queue}.dlq`;
    await waitFor('dead letters under the new schema', async () => (await h.broker.depth(dlq)) >= 10);
    await publisher.stop();
    await waitFor('everything settled', async () => (await h.broker.depth(queue)) === 0);
    await waitFor('no delivery in flight', () => h.warren!.runtime.describe().routes[0]!.inFlight === 0);

    const letters = await h.broker.drain(dlq);
    const delivered = h.receiver.requests.map((r) => String(r.headers['webhook-id']));
    const deadLettered = letters.map((m) => String(m.properties.messageId));
    expect(accounting(publisher.published, [...delivered, ...deadLettered])).toEqual({
      lost: [],
      duplicates: 0,
    });
    expect(new Set(letters.map((m) => m.properties.headers?.['x-warren-error']))).toEqual(
      new Set(["schema: (root) must have required property 'tenant'"]),
    );
    // The consumer was not restarted: one consumer on the queue throughout, the same route version swapped.
    expect(await h.broker.consumers(queue)).toBe(1);
  });

  it('refuses a reload with a schema file that does not compile, positioned, and keeps validating with the old one', async () => {
    const exchange = uniqueName('contract.bad');
    const queue = uniqueName('contract.bad.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  kept:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    schema: event.json
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
      { schemas: { 'event.json': '{ "type": "object", "required": ["id"] }' } },
    );
    await replaceFile(h.warren.schemasDir, 'event.json', '{\n  "type": "object",\n  "required": "id"\n}\n');
    const report = await h.warren.reloader.reload('test');

    expect(report?.result).toBe('invalid');
    expect(report?.issues).toEqual([
      expect.stringMatching(/r\.yaml:6:13 schema `event\.json` cannot be used: it does not compile/),
      expect.stringMatching(
        /event\.json:3:15 not a valid JSON Schema: data\/required must be array \(at \/required\)$/,
      ),
    ]);
    const refused = await h.warren.admin.request('/api/reload', { method: 'POST' });
    expect(refused.status).toBe(422);
    await h.broker.publish(exchange, 'e', '{"id":"1"}', { messageId: 'good' });
    await h.broker.publish(exchange, 'e', '{"name":"x"}', { messageId: 'bad' });
    await waitFor('the invalid one dead-lettered', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    await waitFor('the valid one delivered', () => h.receiver.requests.length === 1);
    const [letter] = await h.broker.drain(`${queue}.dlq`);
    expect(letter!.properties.messageId).toBe('bad');
    expect(letter!.properties.headers?.['x-warren-error']).toBe(
      "schema: (root) must have required property 'id'",
    );
  });
});
