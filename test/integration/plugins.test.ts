import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

describe('plugins on a route', () => {
  const h = useHarness();

  it('transforms a message before its webhook', async () => {
    const exchange = uniqueName('plug');
    const queue = uniqueName('plug.q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  shaped:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    transform: shape.js
    to: { webhook: { url: "${h.receiver.url()}" } }
`,
      },
      h.broker,
      {
        plugins: {
          'shape.js':
            'export default (msg, ctx) => ({ body: { n: msg.body.n * 2, route: ctx.route }, headers: { "x-shaped": "yes" } })',
        },
      },
    );
    await h.broker.publish(exchange, 'a.b', '{"n":21}', { contentType: 'application/json', messageId: 'p1' });
    await waitFor('the transformed request', () => h.receiver.requests.length === 1);
    expect(JSON.parse(h.receiver.requests[0]!.body)).toEqual({ n: 42, route: 'shaped' });
    expect(h.receiver.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('fans out with a plugin target, every copy published and confirmed', async () => {
    const exchange = uniqueName('plug.in');
    const out = uniqueName('plug.out');
    const queue = uniqueName('plug.src');
    const sink = uniqueName('plug.sink');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges:
  ${exchange}: { type: topic }
  ${out}: { type: topic }
queues:
  ${sink}: { bind: [{ exchange: ${out}, key: "line.#" }] }
routes:
  split:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { plugin: { file: split.js } }
`,
      },
      h.broker,
      {
        plugins: {
          'split.js': `export default (msg) => msg.body.lines.map((l) => ({ exchange: '${out}', routingKey: 'line.' + l, body: { l } }))`,
        },
      },
    );
    await h.broker.publish(exchange, 'order', '{"lines":["a","b","c"]}', {
      contentType: 'application/json',
      messageId: 'o1',
    });
    await waitFor('three copies', async () => (await h.broker.depth(sink)) === 3);
    const copies = await h.broker.drain(sink);
    expect(copies.map((m) => m.fields.routingKey).sort()).toEqual(['line.a', 'line.b', 'line.c']);
    expect(copies.map((m) => m.properties.messageId).sort()).toEqual(['o1.0', 'o1.1', 'o1.2']);
    await waitFor('the source acked', async () => (await h.broker.depth(queue)) === 0);
  });
});
