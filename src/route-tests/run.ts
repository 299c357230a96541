import type { ConsumeMessage } from 'amqplib';
import pino from 'pino';
import type { Publisher } from '../amqp/publisher.js';
import type { ConfigIssue } from '../config/issues.js';
import type { Config } from '../config/types.js';
import { SchemaSets } from '../contracts/sets.js';
import { toDelivery } from '../delivery/delivery.js';
import { type Outcome, retry } from '../delivery/outcome.js';
import { SandboxCache } from '../plugins/cache.js';
import { createRouteHandler, createTarget } from '../targets/handler.js';
import type { Handler, TargetDeps } from '../targets/types.js';
import type { Plan, RoutePlan } from '../topology/plan.js';
import { type Comparison, compare } from './compare.js';
import { readTestFile } from './parse.js';
import type { Observed, RecordedPublish, TestCase, TestMessage, TestSuite } from './suite.js';
import { type RecordedRequest, recordingWebhook } from './webhook.js';

export interface CaseResult {
  file: string;
  line: number;
  route: string;
  name: string;
  comparison: Comparison;
  /** What the route's plugins logged (`ctx.log`) while running this case. */
  logs: string[];
}

export interface TestReport {
  results: CaseResult[];
  /** Invalid test files (and routes whose plugins cannot load): `file:line:col` problems. */
  issues: ConfigIssue[];
}

interface Recording {
  requests: RecordedRequest[];
  published: RecordedPublish[];
}

/**
 * Runs the cases of the test files against the routes of `config`: each message goes through the
 * route's real handler (`createRouteHandler`: its transform, its plugin sandboxes, its republish or
 * plugin target) with a recording Publisher instead of a broker, and a recording stand-in for a
 * webhook target (the request it would send, answered as a 2xx would be).
 */
export async function runTestFiles(files: string[], config: Config, plan: Plan): Promise<TestReport> {
  const routes = new Map(plan.routes.map((r) => [r.name, r]));
  const kinds = new Map(plan.routes.map((r) => [r.name, r.target.kind]));
  const report: TestReport = { results: [], issues: [] };
  const logs: string[] = [];
  const sandboxes = new SandboxCache(collectingLogger(logs));
  let recording: Recording = { requests: [], published: [] };

  const publisher: Publisher = {
    async publish(exchange, routingKey, content, properties) {
      recording.published.push({
        exchange,
        routingKey,
        headers: { ...(properties.headers as Record<string, unknown> | undefined) },
        ...(properties.contentType ? { contentType: String(properties.contentType) } : {}),
        body: content,
      });
    },
  };
  const deps: TargetDeps = {
    publisher,
    sandbox: (ref) => sandboxes.acquire(ref, config.plugins[ref.file] ?? ''),
    schemas: schemaSetsOf(config).get,
  };
  const target = async (route: RoutePlan): Promise<Handler> =>
    route.target.kind === 'webhook'
      ? recordingWebhook(route.target, (r) => recording.requests.push(r))
      : createTarget(route.target, deps);

  try {
    for (const file of files) {
      const parsed = await readTestFile(file, kinds);
      report.issues.push(...parsed.issues);
      for (const suite of parsed.suites) {
        const route = routes.get(suite.route)!;
        let handler: Handler;
        try {
          handler = await createRouteHandler(route, deps, await target(route));
        } catch (err) {
          report.issues.push(suiteIssue(suite, `route ${route.name} cannot run: ${(err as Error).message}`));
          continue;
        }
        for (const test of suite.cases) {
          recording = { requests: [], published: [] };
          logs.length = 0;
          const outcome = await runCase(route, handler, test);
          // `ctx.log` reaches the host asynchronously: let this case's lines arrive.
          await new Promise((resolve) => setImmediate(resolve));
          const observed: Observed = {
            outcome,
            target: route.target.kind === 'webhook' ? 'webhook' : 'publish',
            ...recording,
          };
          report.results.push({
            file: suite.file,
            line: test.line,
            route: route.name,
            name: test.name,
            comparison: compare(test.expect, observed),
            logs: [...logs],
          });
        }
      }
    }
  } finally {
    sandboxes.disposeAll();
  }
  return report;
}

async function runCase(route: RoutePlan, handler: Handler, test: TestCase): Promise<Outcome> {
  const delivery = toDelivery(consumeMessage(test.message, sourceExchange(route)), route.name);
  let outcome: Outcome;
  try {
    outcome = await handler(delivery);
  } catch (err) {
    // As the dispatcher does: a handler that throws is a bug, and the message is retried.
    outcome = retry(`internal error: ${(err as Error).message}`);
  }
  // As the dispatcher does (src/delivery/dispatch.ts): the last attempt's retry is a dead letter.
  if (outcome.kind === 'retry' && delivery.attempt >= route.retry.attempts) {
    return {
      kind: 'dead-letter',
      reason: `${outcome.reason} (gave up after ${delivery.attempt} attempts)`,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    };
  }
  return outcome;
}

/** A message without `exchange` arrives from the route's first binding. */
function sourceExchange(route: RoutePlan): string {
  return route.bindings.find((b) => b.destinationKind === 'queue')?.exchange ?? '';
}

/** The case's message as amqplib would hand it to the consumer. */
export function consumeMessage(m: TestMessage, defaultExchange: string): ConsumeMessage {
  let content = Buffer.alloc(0);
  let contentType = m.contentType;
  if (typeof m.body === 'string') content = Buffer.from(m.body);
  else if ('body' in m) {
    content = Buffer.from(JSON.stringify(m.body) ?? 'null');
    contentType ??= 'application/json';
  }
  const headers = { ...m.headers, ...(m.attempt > 1 ? { 'x-warren-attempt': m.attempt } : {}) };
  return {
    content,
    fields: {
      deliveryTag: 1,
      redelivered: m.redelivered,
      exchange: m.exchange ?? defaultExchange,
      routingKey: m.routingKey,
      consumerTag: 'warren-test',
    },
    properties: {
      contentType,
      contentEncoding: undefined,
      headers,
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: m.messageId,
      timestamp: undefined,
      type: m.type,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    },
  };
}

function suiteIssue(suite: TestSuite, message: string): ConfigIssue {
  return { file: suite.file, line: suite.line, col: 1, pointer: '/route', message };
}

const levelNames: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };

/** A logger that keeps plugin log lines (`level plugin: text`) instead of writing them out. */
function collectingLogger(lines: string[]) {
  return pino(
    { level: 'debug', base: null, timestamp: false },
    {
      write(line: string) {
        try {
          const entry = JSON.parse(line) as { level: number; msg?: string; plugin?: string };
          lines.push(`${levelNames[entry.level] ?? entry.level} ${entry.plugin ?? ''}: ${entry.msg ?? ''}`);
        } catch {
          lines.push(line.trim());
        }
      },
    },
  );
}

/** The route's `schema:` applies in a test run too: the directory the routes were validated with. */
function schemaSetsOf(config: Config): { get: (hash: string) => ReturnType<SchemaSets['get']> } {
  const sets = new SchemaSets();
  if (config.schemas) sets.add(config.schemas);
  return { get: (hash) => sets.get(hash) };
}
