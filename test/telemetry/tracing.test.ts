import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, repoRoot, spawnWarren, type WarrenProcess, waitReady } from '../helpers/cli.js';
import { type ExportedSpan, exportedSpans, spanKind, traceparentIds } from '../helpers/otlp.js';
import type { Receiver } from '../helpers/receiver.js';
import { type Harness, trackPlan, useHarness } from '../helpers/warren.js';

/** A W3C traceparent as a publisher's own span would send it. */
function publisherTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/** Every OpenTelemetry variable off, whatever the environment running the tests has. */
const noOtel: NodeJS.ProcessEnv = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('OTEL_'))
    .map((k) => [k, undefined]),
);

const probe = join(repoRoot, 'test/helpers/module-probe.cjs');

/** `warren run` preloaded with the module probe: `loaded()` lists its @opentelemetry packages after it exited. */
async function spawnProbed(h: Harness, routes: string, env: NodeJS.ProcessEnv, plugins?: string) {
  const modulesFile = join(await h.tempDir(), 'modules.txt');
  const warren = await spawnWarren({
    routes,
    ...(plugins ? { plugins } : {}),
    env: {
      ...noOtel,
      ...env,
      WARREN_LOG_LEVEL: 'info',
      NODE_OPTIONS: `--require ${probe}`,
      WARREN_TEST_MODULES_FILE: modulesFile,
    },
  });
  h.defer(() => killCli(warren));
  await waitReady(warren);
  const loaded = async (): Promise<Set<string>> => {
    const text = await readFile(modulesFile, 'utf8');
    return new Set([...text.matchAll(/@opentelemetry\/([a-z-]+)/g)].map((m) => m[1]!));
  };
  return { warren, loaded };
}

async function stop(warren: WarrenProcess): Promise<void> {
  warren.child.kill('SIGTERM');
  expect(await warren.exited).toEqual({ code: 0, signal: null });
}

describe('tracing through the CLI, exported to an OTLP/HTTP receiver', () => {
  const h = useHarness('all');
  let sink: Receiver;
  let warren: WarrenProcess;
  let loaded: () => Promise<Set<string>>;
  const exchange = uniqueName('trace-x');
  const next = uniqueName('trace-next-x');
  const queues = {
    hook: uniqueName('trace-hook'),
    hop: uniqueName('trace-hop'),
    next: uniqueName('trace-next'),
  };
  const parents = {
    fine: publisherTraceparent(),
    flaky: publisherTraceparent(),
    gone: publisherTraceparent(),
  };
  const hopParent = publisherTraceparent();

  beforeAll(async () => {
    sink = await h.receive();
    h.receiver.responder = (req) => {
      if (req.body === 'flaky' && req.headers['x-warren-attempt'] === '1') return 503;
      return req.body === 'gone' ? 404 : 200;
    };
    const routes = await h.routesDir({
      'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
  ${next}: { type: topic }
routes:
  hook:
    from: { queue: ${queues.hook}, bind: [{ exchange: ${exchange}, key: "hook" }] }
    to: { webhook: { url: "${h.receiver.url('/hook')}?token=secret-in-query" } }
    retry: { attempts: 3, backoff: [200ms] }
  hop:
    from: { queue: ${queues.hop}, bind: [{ exchange: ${exchange}, key: "hop" }] }
    transform: tag.js
    to: { republish: { exchange: ${next}, routingKey: onwards } }
  next:
    from: { queue: ${queues.next}, bind: [{ exchange: ${next}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url('/next')}" } }
`,
    });
    const plugins = join(await h.tempDir(), 'plugins');
    await mkdir(plugins);
    await writeFile(
      join(plugins, 'tag.js'),
      `export default function tag() { return { headers: { tagged: 'yes' } }; }\n`,
    );
    await trackPlan(h.broker, routes, plugins);
    ({ warren, loaded } = await spawnProbed(
      h,
      routes,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url(''),
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k1',
        OTEL_SERVICE_NAME: 'warren-under-test',
        OTEL_RESOURCE_ATTRIBUTES:
          'deployment.environment.name=ci,service.name=overridden-by-otel-service-name',
      },
      plugins,
    ));
    for (const [body, traceparent] of Object.entries(parents))
      await h.broker.publish(exchange, 'hook', body, { messageId: `m-${body}`, headers: { traceparent } });
    await h.broker.publish(exchange, 'hop', 'hop', {
      messageId: 'm-hop',
      headers: { traceparent: hopParent },
    });
    // fine, flaky twice, gone, and the hop's copy on the next route.
    await waitFor('five webhook requests', () => h.receiver.requests.length >= 5);
    // Batches are sent side by side (the export thread), so they may arrive in any order: wait for
    // every span the tests read, not only for the consumer spans that end last.
    await waitFor('the spans of every delivery', () => {
      const all = exportedSpans(sink);
      const count = (kind: number) => all.filter((s) => s.kind === kind).length;
      const consumers = all.filter((s) => s.kind === spanKind.consumer);
      return (
        consumers.length >= 6 &&
        consumers.every((s) => s.attributes['warren.outcome'] !== undefined) &&
        count(spanKind.client) >= 5 &&
        count(spanKind.producer) >= 1 &&
        count(spanKind.internal) >= 1
      );
    });
  });

  const spans = (): ExportedSpan[] => exportedSpans(sink);
  const consumerOf = (messageId: string, attempt = 1, route = 'hook'): ExportedSpan => {
    const found = spans().filter(
      (s) =>
        s.kind === spanKind.consumer &&
        s.attributes['warren.route'] === route &&
        s.attributes['messaging.message.id'] === messageId &&
        s.attributes['warren.attempt'] === attempt,
    );
    expect(found, `${messageId} attempt ${attempt}`).toHaveLength(1);
    return found[0]!;
  };
  const childrenOf = (span: ExportedSpan, kind: number): ExportedSpan[] =>
    spans().filter((s) => s.parentSpanId === span.spanId && s.kind === kind);

  it("makes each delivery a consumer span, child of the publisher's traceparent", () => {
    const parent = traceparentIds(parents.fine);
    const span = consumerOf('m-fine');
    expect(span).toMatchObject({
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      name: `process ${queues.hook}`,
    });
    expect(span.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': queues.hook,
      'messaging.rabbitmq.destination.routing_key': 'hook',
      'messaging.message.id': 'm-fine',
      'warren.route': 'hook',
      'warren.attempt': 1,
      'warren.outcome': 'ack',
    });
    expect(span.status.code).toBe(0);
  });

  it('makes the webhook request a client span under it, whose context the receiver gets', () => {
    const consumer = consumerOf('m-fine');
    const [client, ...more] = childrenOf(consumer, spanKind.client);
    expect(more).toEqual([]);
    expect(client!.traceId).toBe(consumer.traceId);
    expect(client!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.full': h.receiver.url('/hook'), // without the query, which may hold a secret
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    const request = h.receiver.requests.find((r) => r.body === 'fine')!;
    expect(traceparentIds(String(request.headers.traceparent))).toEqual({
      traceId: consumer.traceId,
      spanId: client!.spanId,
    });
  });

  it("makes a retry's next attempt the child of the attempt before, in the same trace", () => {
    const first = consumerOf('m-flaky', 1);
    const second = consumerOf('m-flaky', 2);
    expect(first.traceId).toBe(traceparentIds(parents.flaky).traceId);
    expect(second).toMatchObject({ traceId: first.traceId, parentSpanId: first.spanId });
    expect(first.attributes['warren.outcome']).toBe('retry');
    expect(first.status.code).toBe(2);
    const retry = first.events.find((e) => e.name === 'warren.retry');
    expect(retry?.attributes['warren.reason']).toMatch(/^HTTP 503/);
    expect(retry?.attributes['warren.retry.tier']).toBe(`warren.retry.${queues.hook}.200ms`);
    expect(second.attributes['warren.outcome']).toBe('ack');
    expect(childrenOf(first, spanKind.client)[0]?.attributes['http.response.status_code']).toBe(503);
  });

  it('records the dead-letter decision with its reason, as an error', () => {
    const span = consumerOf('m-gone');
    const event = span.events.find((e) => e.name === 'warren.dead_letter');
    expect(event?.attributes['warren.reason']).toMatch(/^HTTP 404/);
    expect(event?.attributes['warren.dead_letter.queue']).toBe(`${queues.hook}.dlq`);
    expect(span.status).toMatchObject({ code: 2 });
    expect(span.attributes['warren.outcome']).toBe('dead_letter');
    const client = childrenOf(span, spanKind.client)[0]!;
    expect(client.status.code).toBe(2);
    expect(client.attributes['error.type']).toBe('404');
  });

  it("keeps the trace across a republish: the next route's span is the child of the producer span", () => {
    const hop = consumerOf('m-hop', 1, 'hop');
    expect(hop.parentSpanId).toBe(traceparentIds(hopParent).spanId);
    const [plugin] = childrenOf(hop, spanKind.internal);
    expect(plugin).toMatchObject({ name: 'plugin tag.js', attributes: { 'warren.plugin': 'tag.js' } });
    const [producer] = childrenOf(hop, spanKind.producer);
    expect(producer).toMatchObject({ name: `publish ${next}`, traceId: hop.traceId });
    expect(producer!.attributes).toMatchObject({
      'messaging.destination.name': next,
      'messaging.rabbitmq.destination.routing_key': 'onwards',
    });
    // The copy keeps its message-id (the receiver's idempotency key) on the next route.
    expect(consumerOf('m-hop', 1, 'next')).toMatchObject({
      traceId: hop.traceId,
      parentSpanId: producer!.spanId,
    });
  });

  it('describes itself with the resource the OTEL_ variables give, and the version of the package', async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(consumerOf('m-fine').resource).toMatchObject({
      'service.name': 'warren-under-test',
      'service.version': version,
      'deployment.environment.name': 'ci',
    });
  });

  it('sends the headers OTEL_EXPORTER_OTLP_HEADERS gives with every export (read by the export thread)', () => {
    const exports = sink.requests.filter((r) => r.path === '/v1/traces');
    expect(exports.length).toBeGreaterThan(0);
    expect(exports.map((r) => r.headers['x-collector-key'])).toEqual(exports.map(() => 'k1'));
    expect(exports.map((r) => r.headers['content-type'])).toEqual(
      exports.map(() => 'application/x-protobuf'),
    );
  });

  it('samples with the SDK on the event loop and leaves the batching and the exporter to the export thread', async () => {
    await stop(warren);
    // The probe lists what the main thread loaded: the SDK's samplers, not the exporter, its
    // serialiser or the resource detection, which the export thread ran to send every span the
    // tests above read.
    const packages = await loaded();
    expect(packages.has('sdk-trace-base')).toBe(true);
    expect(packages.has('otlp-exporter-base')).toBe(false);
    expect(packages.has('otlp-transformer')).toBe(false);
  });
});

describe('tracing on shutdown and off', () => {
  const h = useHarness();

  /** One webhook route to `url` (as written in the file), the receiver's by default. */
  async function oneRoute(url = h.receiver.url()): Promise<{ routes: string; queue: string }> {
    const queue = uniqueName('trace-one');
    const routes = await h.routesDir({
      'routes.yaml': `
routes:
  one:
    from: { queue: ${queue} }
    to: { webhook: { url: "${url}" } }
`,
    });
    await trackPlan(h.broker, routes);
    return { routes, queue };
  }

  it('exports the spans still buffered when it stops', async () => {
    const sink = await h.receive();
    const { routes, queue } = await oneRoute();
    const { warren } = await spawnProbed(h, routes, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.url('/v1/traces'),
      OTEL_BSP_SCHEDULE_DELAY: '600000', // nothing leaves before the stop
    });
    await h.broker.publish('', queue, 'one', { messageId: 'm-one' });
    await waitFor('the request', () => h.receiver.requests.length === 1);
    expect(exportedSpans(sink)).toEqual([]);
    await stop(warren);
    expect(
      exportedSpans(sink)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['POST', `process ${queue}`]);
  });

  it('stops on SIGTERM when the collector never answers, with more batches waiting than the thread takes', async () => {
    const sink = await h.receive(() => 'handled'); // reads each export and never answers it
    const { routes, queue } = await oneRoute();
    const { warren } = await spawnProbed(h, routes, {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url(''),
      OTEL_BSP_SCHEDULE_DELAY: '10',
      // One span a batch: 4 messages make 8 batches, 4 with the thread and the rest waiting.
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1',
      // Neither the exporter nor the processor gives up on its own before the test's timeout.
      OTEL_EXPORTER_OTLP_TIMEOUT: '600000',
      OTEL_BSP_EXPORT_TIMEOUT: '600000',
    });
    for (const body of ['one', 'two', 'three', 'four'])
      await h.broker.publish('', queue, body, { messageId: `m-${body}` });
    await waitFor('the requests', () => h.receiver.requests.length === 4);
    await waitFor('four exports with the collector', () => sink.requests.length >= 4);
    // Stopping waits 5 s for the collector, then drops what has not left: the process exits.
    await stop(warren);
    expect(warren.lines.find((l) => l.event === 'stopped')).toBeDefined();
  });

  it("blanks an interpolated part of the webhook's path from the client span's url.full", async () => {
    const sink = await h.receive();
    const tokenFile = join(await h.tempDir(), 'hook-token');
    await writeFile(tokenFile, 'T0KEN-in-the-path\n');
    const { routes, queue } = await oneRoute(`${h.receiver.url('/services/')}\${file:${tokenFile}}`);
    const { warren } = await spawnProbed(h, routes, {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url(''),
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    await h.broker.publish('', queue, 'one', { messageId: 'm-secret' });
    await waitFor('the client span', () => exportedSpans(sink).some((s) => s.kind === spanKind.client));
    expect(h.receiver.requests[0]!.path).toBe('/services/T0KEN-in-the-path');
    const client = exportedSpans(sink).find((s) => s.kind === spanKind.client)!;
    expect(client.attributes['url.full']).toBe(h.receiver.url('/services/<redacted>'));
    expect(sink.requests.map((r) => r.body).join('')).not.toContain('T0KEN');
    await stop(warren);
  });

  it.each(['0', '-2'])(
    'exports and stops with OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%s, which it says it replaced',
    async (size) => {
      const sink = await h.receive();
      const { routes, queue } = await oneRoute();
      const { warren } = await spawnProbed(h, routes, {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url(''),
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: size,
      });
      await h.broker.publish('', queue, 'one', { messageId: 'm-one' });
      await waitFor('the spans', () => exportedSpans(sink).length >= 2);
      expect(warren.lines.find((l) => l.event === 'tracing')?.msg).toContain(
        `OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${size} is not a positive whole number: 512 is used`,
      );
      await stop(warren);
    },
  );

  it('logs an export the collector refuses, once, and keeps delivering', async () => {
    const sink = await h.receive(() => 400); // not retryable: the export fails at once
    const { routes, queue } = await oneRoute();
    const { warren } = await spawnProbed(h, routes, {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url(''),
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    for (const body of ['one', 'two']) {
      await h.broker.publish('', queue, body, { messageId: `m-${body}` });
      await waitFor(`the export of ${body}`, () => exportedSpans(sink).length >= (body === 'one' ? 2 : 4));
    }
    await waitFor('the failure in the log', () =>
      warren.lines.some((l) => l.event === 'tracing' && /export failed/.test(String(l.msg))),
    );
    expect(h.receiver.requests.map((r) => r.body)).toEqual(['one', 'two']);
    const failures = warren.lines.filter((l) => l.event === 'tracing' && /export failed/.test(String(l.msg)));
    expect(failures).toHaveLength(1); // the second is within the minute: not said again
    expect(failures[0]).toMatchObject({ level: 50 });
    await stop(warren);
  });

  it('loads nothing of the SDK when no variable asks for traces, and forwards the traceparent as it came', async () => {
    const { routes, queue } = await oneRoute();
    const { warren, loaded } = await spawnProbed(h, routes, {});
    const traceparent = publisherTraceparent();
    await h.broker.publish('', queue, 'one', { messageId: 'm-off', headers: { traceparent } });
    await waitFor('the request', () => h.receiver.requests.length === 1);
    expect(h.receiver.requests[0]!.headers.traceparent).toBe(traceparent);
    expect(warren.lines.find((l) => l.event === 'started')?.tracing).toBe(false);
    await stop(warren);
    // prom-client loads the API package (its CPU metric reads the active span for exemplars): a
    // no-op facade. No SDK, exporter, resource or protocol package is loaded.
    expect([...(await loaded())]).toEqual(['api']);
  });

  it('stays off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, and says why for an exporter it lacks', async () => {
    const envs: NodeJS.ProcessEnv[] = [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_TRACES_EXPORTER: 'none' },
      { OTEL_TRACES_EXPORTER: 'zipkin' },
    ];
    for (const env of envs) {
      const { routes } = await oneRoute();
      const { warren, loaded } = await spawnProbed(h, routes, env);
      expect(warren.lines.find((l) => l.event === 'started')?.tracing, JSON.stringify(env)).toBe(false);
      await stop(warren);
      expect([...(await loaded())]).toEqual(['api']);
      if (env.OTEL_TRACES_EXPORTER === 'zipkin')
        expect(warren.lines.find((l) => l.event === 'tracing_off')?.msg).toMatch(/otlp only/);
    }
  });
});
