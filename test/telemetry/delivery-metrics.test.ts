import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { metricsText, sample } from '../helpers/metrics.js';
import { closedPort } from '../helpers/receiver.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/** A topic exchange and one webhook route consuming everything published to it. */
function route(name: string, exchange: string, queue: string, url: string): string {
  return `
exchanges:
  ${exchange}: { type: topic }
routes:
  ${name}:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${url}", timeout: 2s } }
    retry: { attempts: 2, backoff: [200ms] }
`;
}

describe('time in queue and webhook request time', () => {
  const h = useHarness();

  it('observes the age of first attempts with a plausible timestamp, and nothing for the others', async () => {
    const name = uniqueName('aged').replaceAll('.', '-');
    const exchange = uniqueName('aged-x');
    const queue = uniqueName('aged-q');
    h.receiver.responder = (req) =>
      req.body === 'retry-me' && req.headers['x-warren-attempt'] === '1' ? 503 : 200;
    h.warren = await startWarren({ 'routes.yaml': route(name, exchange, queue, h.receiver.url()) }, h.broker);
    const now = Math.floor(Date.now() / 1000);
    // 30 s old; 30 s old and retried once (its second attempt is not counted); no timestamp;
    // milliseconds taken for seconds (far in the future); 0; a minute ahead: four not counted.
    await h.broker.publish(exchange, 'a', 'old', { timestamp: now - 30 });
    await h.broker.publish(exchange, 'a', 'retry-me', { timestamp: now - 30 });
    await h.broker.publish(exchange, 'a', 'none');
    await h.broker.publish(exchange, 'a', 'millis', { timestamp: Date.now() });
    await h.broker.publish(exchange, 'a', 'zero', { timestamp: 0 });
    await h.broker.publish(exchange, 'a', 'ahead', { timestamp: now + 60 });
    await waitFor('seven requests', () => h.receiver.requests.length >= 7);
    await waitFor('every delivery settled', () => h.warren!.runtime.describe().routes[0]?.inFlight === 0);
    const text = await metricsText(h.warren.admin);
    expect(sample(text, 'warren_message_age_seconds_count', { route: name })).toBe(2);
    // Both waited at least the 30 s their timestamps say (plus under a second of rounding).
    expect(sample(text, 'warren_message_age_seconds_bucket', { route: name, le: '10' })).toBe(0);
    expect(sample(text, 'warren_message_age_seconds_bucket', { route: name, le: '60' })).toBe(2);
    expect(sample(text, 'warren_message_age_seconds_sum', { route: name })).toBeGreaterThanOrEqual(60);
  });

  it('observes every webhook request by status class, a connection error as `error`', async () => {
    const name = uniqueName('timed').replaceAll('.', '-');
    const exchange = uniqueName('timed-x');
    const queue = uniqueName('timed-q');
    // A second route pointed at a port nobody listens on: each of its attempts is an `error` request.
    const down = uniqueName('timed-down').replaceAll('.', '-');
    const downExchange = uniqueName('timed-dx');
    const downQueue = uniqueName('timed-dq');
    h.receiver.responder = (req) =>
      req.body === 'flaky' && req.headers['x-warren-attempt'] === '1' ? 503 : 200;
    h.warren = await startWarren(
      {
        'routes.yaml': route(name, exchange, queue, h.receiver.url()),
        'down.yaml': route(down, downExchange, downQueue, `http://127.0.0.1:${await closedPort()}/`),
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'a', 'fine');
    await h.broker.publish(exchange, 'a', 'flaky');
    await waitFor('three requests', () => h.receiver.requests.length >= 3);
    await waitFor('every delivery settled', () => h.warren!.runtime.describe().routes[0]?.inFlight === 0);
    let text = await metricsText(h.warren.admin);
    const count = (statusClass: string) =>
      sample(text, 'warren_webhook_request_duration_seconds_count', {
        route: name,
        status_class: statusClass,
      });
    expect(count('2xx')).toBe(2);
    expect(count('5xx')).toBe(1);
    expect(count('error')).toBeUndefined();

    await h.broker.publish(downExchange, 'a', 'lost');
    await waitFor('two failed attempts', async () => {
      text = await metricsText(h.warren!.admin);
      return (
        sample(text, 'warren_webhook_request_duration_seconds_count', {
          route: down,
          status_class: 'error',
        }) === 2
      );
    });
    expect(
      sample(text, 'warren_webhook_responses_total', { route: down, status_class: 'error' }),
      'the counter and the histogram count the same requests',
    ).toBe(2);
  });
});
