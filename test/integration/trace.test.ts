import { describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { startWarren, useHarness } from '../helpers/warren.js';

const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const traceId = (tp: unknown) => String(tp).slice(3, 35);

describe('trace context', () => {
  const h = useHarness();

  it('carries traceparent and tracestate to the webhook, the retry and the dead letter, and logs the trace id', async () => {
    const exchange = uniqueName('trace');
    const queue = uniqueName('trace.q');
    h.receiver.responder = () => 503;
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  traced:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    to: { webhook: { url: "${h.receiver.url()}" } }
    retry: { attempts: 2, backoff: [100ms] }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'k', 'x', {
      messageId: 't1',
      headers: { traceparent, tracestate: 'v=1' },
    });
    await waitFor('the dead letter', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    expect(h.receiver.requests.map((r) => [r.headers.traceparent, r.headers.tracestate])).toEqual([
      [traceparent, 'v=1'],
      [traceparent, 'v=1'],
    ]);
    const [dead] = await h.broker.drain(`${queue}.dlq`);
    expect(String(dead!.properties.headers?.traceparent)).toBe(traceparent);
    expect(h.warren.logs.filter((l) => l.event === 'delivery').map((l) => l.trace_id)).toEqual([
      traceId(traceparent),
      traceId(traceparent),
    ]);
  });

  it('starts a valid traceparent when there is none and keeps it across retries', async () => {
    const exchange = uniqueName('trace.new');
    const queue = uniqueName('trace.new.q');
    h.receiver.responder = (_req, n) => (n === 0 ? 500 : 200);
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: direct } }
routes:
  fresh:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    to: { webhook: { url: "${h.receiver.url()}" } }
    retry: { attempts: 2, backoff: [100ms] }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'k', 'x', { messageId: 't2' });
    await waitFor('two requests', () => h.receiver.requests.length === 2);
    const [first, second] = h.receiver.requests.map((r) => String(r.headers.traceparent));
    expect(first).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(second).toBe(first);
  });

  it('copies the traceparent to a republished message', async () => {
    const exchange = uniqueName('trace.in');
    const out = uniqueName('trace.out');
    const queue = uniqueName('trace.src');
    const sink = uniqueName('trace.sink');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges:
  ${exchange}: { type: direct }
  ${out}: { type: direct }
queues:
  ${sink}: { bind: [{ exchange: ${out}, key: k }] }
routes:
  copy:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: k }] }
    to: { republish: { exchange: ${out} } }
`,
      },
      h.broker,
    );
    await h.broker.publish(exchange, 'k', 'x', { messageId: 't3', headers: { traceparent } });
    await waitFor('the republished copy', async () => (await h.broker.depth(sink)) === 1);
    const [copy] = await h.broker.drain(sink);
    expect(String(copy!.properties.headers?.traceparent)).toBe(traceparent);
  });
});
