import type { GetMessage } from 'amqplib';
import { beforeEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { sample } from '../helpers/metrics.js';
import { closedPort } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

interface RouteOptions {
  route: string;
  exchange: string;
  queue: string;
  url: string;
  /** Extra YAML lines under the route (already indented by four spaces). */
  extra?: string;
}

/** One topic exchange and one webhook route consuming everything published to it. */
function webhookRoute({ route, exchange, queue, url, extra = '' }: RouteOptions): string {
  return `
exchanges:
  ${exchange}: { type: topic }
routes:
  ${route}:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${url}", timeout: 2s } }
${extra}
`;
}

const fastRetry = (attempts: number): string => `    retry: { attempts: ${attempts}, backoff: [200ms] }`;

type LogLine = Record<string, unknown>;

describe('webhook outcomes', () => {
  const h = useHarness();
  let exchange: string;
  let queue: string;

  beforeEach(async () => {
    exchange = uniqueName('events');
    queue = uniqueName('hooks');
  });

  const deliveries = (outcome?: string): LogLine[] =>
    (h.warren?.logs ?? []).filter((l) => l.event === 'delivery' && (!outcome || l.outcome === outcome));

  /** Source queue empty and nothing held by the route: every delivery was settled. */
  const settled = async (): Promise<boolean> =>
    (await h.broker.depth(queue)) === 0 && h.warren!.runtime.describe().routes.every((r) => r.inFlight === 0);

  /** The one message dead-lettered, taken once the source delivery was settled (so no copy follows). */
  const dlqMessage = async (): Promise<GetMessage> => {
    await waitFor('a message in the DLQ', async () => (await h.broker.depth(`${queue}.dlq`)) >= 1);
    await waitFor('the source queue to be settled', settled);
    const messages = await h.broker.drain(`${queue}.dlq`);
    expect(messages).toHaveLength(1);
    return messages[0]!;
  };

  it('retries a 500 through the delay tier with the next attempt number, then acks the 200', async () => {
    h.receiver.responder = (_req, n) => (n === 0 ? 500 : 200);
    h.warren = await startWarren(
      {
        'routes.yaml': webhookRoute({
          route: 'flaky',
          exchange,
          queue,
          url: h.receiver.url(),
          extra: fastRetry(3),
        }),
      },
      h.broker,
    );
    const tier = `warren.retry.${queue}.200ms`;
    expect(await h.broker.depth(tier)).toBe(0);
    await h.broker.publish(exchange, 'order.created', '{"id":1}', { messageId: 'order-1' });
    await waitFor('the retried request', () => h.receiver.requests.length >= 2);
    await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
    const [first, second] = h.receiver.requests;
    expect(first!.headers['x-warren-attempt']).toBe('1');
    expect(second!.headers['x-warren-attempt']).toBe('2');
    expect(second!.headers['webhook-id']).toBe('order-1');
    expect(second!.headers['x-warren-exchange']).toBe(exchange);
    expect(second!.headers['x-warren-routing-key']).toBe('order.created');
    expect(second!.body).toBe('{"id":1}');
    expect(deliveries('retry')).toHaveLength(1);
    await waitFor('the source queue to be settled', settled);
    expect(await h.broker.depth(tier)).toBe(0);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
    expect(h.receiver.requests).toHaveLength(2);
  });

  it('dead-letters a 404 once, with the status, a body excerpt and the origin attached', async () => {
    h.receiver.responder = (_req, _n, res) => {
      res.statusCode = 404;
      res.end('no such customer: c-77');
      return 'handled';
    };
    h.warren = await startWarren(
      {
        'routes.yaml': webhookRoute({
          route: 'gone',
          exchange,
          queue,
          url: h.receiver.url(),
          extra: fastRetry(3),
        }),
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'customer.deleted', 'c-77', {
      messageId: 'c-77',
      contentType: 'text/plain',
    });
    const dead = await dlqMessage();
    const headers = dead.properties.headers!;
    expect(headers['x-warren-route']).toBe('gone');
    expect(headers['x-warren-error']).toContain('404');
    expect(headers['x-warren-error']).toContain('no such customer: c-77');
    expect(headers['x-warren-status']).toBe(404);
    expect(headers['x-warren-attempts']).toBe(1);
    expect(Number.isNaN(Date.parse(String(headers['x-warren-failed-at'])))).toBe(false);
    expect(headers['x-warren-original-exchange']).toBe(exchange);
    expect(headers['x-warren-original-routing-key']).toBe('customer.deleted');
    expect(dead.content.toString()).toBe('c-77');
    expect(dead.properties.messageId).toBe('c-77');
    expect(dead.properties.contentType).toBe('text/plain');
    expect(h.receiver.requests).toHaveLength(1);
    expect(deliveries('retry')).toHaveLength(0);
  });

  it('dead-letters after every attempt failed to connect to a receiver that is down', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/hook`;
    h.warren = await startWarren(
      { 'routes.yaml': webhookRoute({ route: 'down', exchange, queue, url, extra: fastRetry(3) }) },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created', 'to-nowhere', { messageId: 'down-1' });
    const dead = await dlqMessage();
    const headers = dead.properties.headers!;
    expect(headers['x-warren-attempts']).toBe(3);
    expect(String(headers['x-warren-error'])).toMatch(/connection/i);
    expect(headers['x-warren-status']).toBeUndefined();
    expect(deliveries('retry').map((l) => l.attempt)).toEqual([1, 2]);
    expect(deliveries('dead_letter').map((l) => l.attempt)).toEqual([3]);
  });

  it('retries a 429 that asks to wait with Retry-After', async () => {
    h.receiver.responder = (_req, n, res) => {
      if (n > 0) return 200;
      res.setHeader('retry-after', '1');
      return 429;
    };
    h.warren = await startWarren(
      {
        'routes.yaml': webhookRoute({
          route: 'slow-down',
          exchange,
          queue,
          url: h.receiver.url(),
          extra: fastRetry(3),
        }),
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created', 'throttled', { messageId: 'throttled-1' });
    await waitFor('the retried request', () => h.receiver.requests.length >= 2);
    expect(h.receiver.requests[1]!.headers['x-warren-attempt']).toBe('2');
    expect(deliveries('retry')[0]).toMatchObject({ status: 429 });
    await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
    await waitFor('the source queue to be settled', settled);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
  });

  it('retries a request the receiver does not answer within the timeout', async () => {
    h.receiver.responder = (_req, n) => (n === 0 ? 'handled' : 200); // the first request never gets an answer
    h.warren = await startWarren(
      {
        'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  stalled:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url()}", timeout: 300ms } }
${fastRetry(3)}
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created', 'stalled', { messageId: 'stalled-1' });
    await waitFor('the retried request', () => h.receiver.requests.length >= 2);
    expect(h.receiver.requests[1]!.headers['x-warren-attempt']).toBe('2');
    expect(String(deliveries('retry')[0]?.reason)).toMatch(/timeout/);
    await waitFor('the ack of the second attempt', () => deliveries('ack').length === 1);
    await waitFor('the source queue to be settled', settled);
  });

  it('dead-letters a 301 without following the redirect', async () => {
    h.receiver.responder = (_req, _n, res) => {
      res.setHeader('location', h.receiver.url('/moved-here'));
      return 301;
    };
    h.warren = await startWarren(
      {
        'routes.yaml': webhookRoute({
          route: 'moved',
          exchange,
          queue,
          url: h.receiver.url(),
          extra: fastRetry(3),
        }),
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created', 'moved', { messageId: 'moved-1' });
    const dead = await dlqMessage();
    expect(dead.properties.headers!['x-warren-status']).toBe(301);
    expect(dead.properties.headers!['x-warren-attempts']).toBe(1);
    expect(h.receiver.requests.map((r) => r.path)).toEqual(['/hook']);
  });

  it('sends the same derived webhook-id on every attempt of a message without a message-id', async () => {
    h.receiver.responder = (_req, n) => (n < 2 ? 503 : 200);
    h.warren = await startWarren(
      {
        'routes.yaml': webhookRoute({
          route: 'anonymous',
          exchange,
          queue,
          url: h.receiver.url(),
          extra: fastRetry(3),
        }),
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'order.created', 'no-id');
    await waitFor('three attempts', () => h.receiver.requests.length >= 3);
    const ids = h.receiver.requests.map((r) => r.headers['webhook-id']);
    expect(ids[0]).toEqual(expect.any(String));
    expect(ids[0]).not.toBe('');
    expect(ids).toEqual([ids[0], ids[0], ids[0]]);
    expect(h.receiver.requests.map((r) => r.headers['x-warren-attempt'])).toEqual(['1', '2', '3']);
    await waitFor('the ack of the third attempt', () => deliveries('ack').length === 1);
  });

  it('applies the default retry policy and declares the DLQ for a route without `retry`', async () => {
    h.warren = await startWarren(
      { 'routes.yaml': webhookRoute({ route: 'defaults', exchange, queue, url: h.receiver.url() }) },
      h.broker,
    );
    const res = await h.warren.admin.request('/api/routes');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      routes: Array<{
        name: string;
        deadLetterQueue: string;
        retry: { attempts: number };
        retryQueues: string[];
      }>;
    };
    const route = body.routes.find((r) => r.name === 'defaults');
    expect(route?.retry.attempts).toBe(5);
    expect(route?.deadLetterQueue).toBe(`${queue}.dlq`);
    expect(await h.broker.depth(`${queue}.dlq`)).toBe(0);
    expect(route?.retryQueues.length).toBeGreaterThan(0);
    for (const tier of route!.retryQueues) {
      expect(tier.startsWith(`warren.retry.${queue}.`)).toBe(true);
      expect(await h.broker.depth(tier)).toBe(0);
    }
  });

  it('counts each delivery outcome per route in /metrics', async () => {
    const route = uniqueName('metered').replaceAll('.', '-');
    h.receiver.responder = (req) => {
      if (req.body === 'gone') return 404;
      if (req.body === 'flaky' && req.headers['x-warren-attempt'] === '1') return 503;
      return 200;
    };
    h.warren = await startWarren(
      { 'routes.yaml': webhookRoute({ route, exchange, queue, url: h.receiver.url(), extra: fastRetry(3) }) },
      h.broker,
    );
    await h.broker.publish(exchange, 'a', 'fine', { messageId: 'm-fine' });
    await h.broker.publish(exchange, 'a', 'gone', { messageId: 'm-gone' });
    await h.broker.publish(exchange, 'a', 'flaky', { messageId: 'm-flaky' });
    await waitFor('all four requests', () => h.receiver.requests.length >= 4);
    await waitFor('every delivery settled', async () => deliveries().length === 4 && (await settled()));
    const res = await h.warren.admin.request('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(sample(text, 'warren_messages_total', { route, outcome: 'ack' })).toBe(2);
    expect(sample(text, 'warren_messages_total', { route, outcome: 'retry' })).toBe(1);
    expect(sample(text, 'warren_messages_total', { route, outcome: 'dead_letter' })).toBe(1);
    expect(sample(text, 'warren_handler_duration_seconds_count', { route, target: 'webhook' })).toBe(4);
    expect(sample(text, 'warren_in_flight', { route })).toBe(0);
    expect(text).toMatch(/^warren_amqp_connected 1$/m);
  });
});
