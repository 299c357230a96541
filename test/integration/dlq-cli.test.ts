import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { runCliToEnd } from '../helpers/cli.js';
import { closedPort } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

const secret = 'dlq-secret-7f3a9c';

describe('warren dlq (CLI)', () => {
  const h = useHarness();
  let failing: boolean;
  let delivered: string[];

  beforeEach(() => {
    failing = true;
    delivered = [];
    h.receiver.responder = (req) => {
      if (failing) return 400;
      delivered.push(String(req.headers['webhook-id']));
      return 200;
    };
  });

  /** A running Warren whose route dead-letters `n` messages, and the routes directory it runs. */
  async function deadLettered(n: number) {
    const exchange = uniqueName('dlqcli.events');
    const queue = uniqueName('dlqcli.orders');
    const dlq = `${queue}.dlq`;
    const env = { ...process.env, DLQ_SECRET: secret };
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  orders:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    concurrency: 1 # one at a time: the DLQ gets the messages in the order they were published
    to:
      webhook:
        url: "${h.receiver.url()}"
        timeout: 2s
        headers: { authorization: "Bearer \${env:DLQ_SECRET}" }
`,
      },
      h.broker,
      { env },
    );
    const ids = Array.from({ length: n }, (_, i) => `${queue}-m${i + 1}`);
    for (const [i, id] of ids.entries()) {
      // A publisher that copied the route's credential into a header: it must not be printed.
      await h.broker.publish(exchange, `order.${i + 1}`, `body ${i + 1}`, {
        messageId: id,
        contentType: 'text/plain',
        headers: { 'x-copied': `token ${secret}` },
      });
    }
    await waitFor('every message in the DLQ', async () => (await h.broker.depth(dlq)) === n);
    const routes = ['--routes', h.warren.dir, '--plugins', h.warren.pluginsDir];
    return { queue, dlq, ids, routes, env: { DLQ_SECRET: secret } };
  }

  it('lists the DLQ as JSON and as a table, leaving the messages where they were', async () => {
    const { queue, dlq, ids, routes, env } = await deadLettered(3);

    const json = await runCliToEnd(['dlq', 'ls', 'orders', ...routes, '--format', 'json'], env);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(json.lines).toHaveLength(1);
    const report = json.lines[0] as {
      total: number;
      source: string;
      messages: Array<Record<string, unknown>>;
    };
    expect(report).toMatchObject({ route: 'orders', queue: dlq, source: queue, total: 3, limit: 20 });
    expect(report.messages.map((m) => m.messageId)).toEqual(ids);
    expect(report.messages[0]).toMatchObject({
      status: 400,
      attempts: 1,
      routingKey: 'order.1',
      body: 'body 1',
      headers: { 'x-copied': '<redacted>' },
    });
    expect(JSON.stringify(json.lines)).not.toContain(secret);
    expect(await h.broker.depth(dlq)).toBe(3);

    const table = await runCliToEnd(['dlq', 'ls', 'orders', ...routes, '--limit', '2'], env);
    expect(table.code).toBe(0);
    // (runCli drops the blank line between the heading and the table)
    expect(table.text[0]).toBe(
      `${dlq} (dead-letter queue of route orders, source ${queue}): 3 messages, showing the first 2`,
    );
    expect(table.text[1]).toMatch(/^#\s+MESSAGE-ID\s+FAILED-AT\s+ATTEMPTS\s+STATUS\s+ERROR\s+EXCHANGE/);
    expect(table.text.slice(2)).toEqual([
      expect.stringMatching(
        new RegExp(`^1\\s+${ids[0]}\\s+\\S+Z\\s+1\\s+400\\s+HTTP 400: failure 400.*body 1$`),
      ),
      expect.stringMatching(new RegExp(`^2\\s+${ids[1]}\\s.*order\\.2\\s+text/plain\\s+6\\s+body 2$`)),
    ]);
    expect(await h.broker.depth(dlq)).toBe(3);
  });

  it('redrives the first N, then the rest, each message delivered once', async () => {
    const { queue, dlq, ids, routes, env } = await deadLettered(3);
    failing = false;

    const first = await runCliToEnd(
      ['dlq', 'redrive', 'orders', ...routes, '--limit', '1', '--format', 'json'],
      env,
    );
    expect(first.stderr).toBe('');
    expect(first.lines).toEqual([{ route: 'orders', from: dlq, to: queue, requested: 1, moved: 1 }]);
    expect(first.code).toBe(0);
    await waitFor('the first message delivered', () => delivered.length === 1);
    expect(delivered).toEqual([ids[0]]);

    const rest = await runCliToEnd(['dlq', 'redrive', 'orders', ...routes], env);
    expect(rest.code).toBe(0);
    expect(rest.text).toEqual([`moved 2 of 2 messages from ${dlq} to ${queue} (route orders)`]);
    await waitFor('every message delivered', () => delivered.length >= 3);
    await waitFor('the source queue to be empty', async () => (await h.broker.depth(queue)) === 0);
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up
    expect(delivered.sort()).toEqual([...ids].sort());
    expect(await h.broker.depth(dlq)).toBe(0);
  });

  it('exits 1 for an unknown route or an unreachable broker, and 2 for a usage error', async () => {
    const { routes, env } = await deadLettered(1);

    const unknown = await runCliToEnd(['dlq', 'ls', 'nope', ...routes], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`warren: no route named nope in ${h.warren!.dir} (routes: orders)\n`);

    const port = await closedPort();
    const down = await runCliToEnd(
      ['dlq', 'redrive', 'orders', ...routes, '--amqp', `amqp://guest:pw@127.0.0.1:${port}`],
      env,
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`warren: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:${port}`);
    expect(down.stderr).toContain('rabbitmq-server -detached');
    expect(down.stderr).not.toContain('pw@');

    for (const args of [
      ['dlq'],
      ['dlq', 'ls'],
      ['dlq', 'peek', 'orders'],
      ['dlq', 'ls', 'orders', '--limit', '1001'],
    ]) {
      const usage = await runCliToEnd([...args, ...routes], env);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr).toContain('Usage: warren dlq ls ROUTE');
    }
    expect(await h.broker.depth(`${h.warren!.runtime.plan.routes[0]!.deadLetterQueue}`)).toBe(1);
  });
});
