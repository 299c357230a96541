import amqp, { type ChannelModel } from 'amqplib';
import { readTlsFiles } from '../amqp/tls.js';
import {
  type AmqpUrl,
  connectOptions,
  describeTlsFailure,
  formatUrl,
  parseAmqpUrls,
  redactUrl,
  type TlsFiles,
  tlsSocketOptions,
} from '../amqp/url.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load.js';
import { redact, scrub } from '../config/redact.js';
import { brokerTimeoutMs, replyCode, within } from '../dlq/channel.js';
import { parseLimit } from '../dlq/limit.js';
import { peekDefaultLimit, peekMaxLimit, peekQueue } from '../dlq/peek.js';
import { formatPeek, formatRedrive, type PeekReport, type RedriveReport } from '../dlq/print.js';
import { type RedriveConnections, RedriveError, redriveQueue } from '../dlq/redrive.js';
import { isWarrenError, WarrenError } from '../errors.js';
import { planTopology } from '../topology/plan.js';
import { type Output, processOutput } from './output.js';

export const dlqUsage = `Usage: warren dlq ls ROUTE [--limit N] [--format text|json]
       warren dlq redrive ROUTE [--limit N] [--format text|json]
  with --routes DIR, --plugins DIR, --amqp URL (and WARREN_AMQP_CA, _CERT, _KEY for amqps://) as for warren run
  ls       show the first N messages (default ${peekDefaultLimit}, at most ${peekMaxLimit}) of the route's DLQ, leaving them there
  redrive  move the DLQ's messages (all ready now, or the first N) back to the route's source queue
`;

export interface DlqSettings {
  routes: string;
  plugins: string;
  amqp: string;
  format: 'text' | 'json';
  /** `--limit`, as typed. */
  limit?: string | undefined;
}

/**
 * Both connections of the tools, to the first node of the list that answers (in the order given:
 * a one-off command has no replicas to spread), or a clear error naming the last node tried
 * (password hidden).
 */
async function connect(url: string, tls: TlsFiles): Promise<RedriveConnections & { close(): Promise<void> }> {
  const nodes = parseAmqpUrls(url); // the command line checked the URL
  for (const [i, node] of nodes.entries()) {
    try {
      return await connectTo(node, tls);
    } catch (err) {
      if (i === nodes.length - 1) throw err;
    }
  }
  throw new Error('unreachable: a URL list is never empty');
}

async function connectTo(
  node: AmqpUrl,
  tls: TlsFiles,
): Promise<RedriveConnections & { close(): Promise<void> }> {
  const target = connectOptions(node);
  const socket = tlsSocketOptions(node, tls);
  const url = formatUrl(node);
  const open = async (name: string): Promise<ChannelModel> => {
    try {
      const model = await within(
        amqp.connect(target, {
          ...socket,
          timeout: brokerTimeoutMs,
          clientProperties: { connection_name: name },
        }),
        `connecting to ${redactUrl(url)}`,
      );
      model.on('error', () => {}); // 'close' follows; the operation in progress fails on its own
      return model;
    } catch (err) {
      let root = err as Error;
      while (root.cause instanceof Error) root = root.cause;
      if (replyCode(err) === 403 || /ACCESS[-_]REFUSED/.test(root.message)) {
        throw new WarrenError(
          'WARREN_E_NOT_CONNECTED',
          `RabbitMQ at ${redactUrl(url)} refused the login: ${root.message}`,
          {
            cause: err,
          },
        );
      }
      const tlsFailure = describeTlsFailure(root, node);
      if (tlsFailure) {
        throw new WarrenError(
          'WARREN_E_NOT_CONNECTED',
          `cannot reach RabbitMQ at ${redactUrl(url)}: ${tlsFailure}`,
          { cause: err },
        );
      }
      throw new WarrenError(
        'WARREN_E_NOT_CONNECTED',
        `cannot reach RabbitMQ at ${redactUrl(url)} (${root.message}): is it running? ` +
          'Start one locally with `rabbitmq-server -detached` or `docker run -d -p 5672:5672 rabbitmq:3`, ' +
          'or point --amqp / AMQP_URL elsewhere',
        { cause: err },
      );
    }
  };
  const consume = await open('warren-dlq');
  let publish: ChannelModel;
  try {
    publish = await open('warren-dlq-publish');
  } catch (err) {
    await consume.close().catch(() => {});
    throw err;
  }
  return {
    consume,
    publish,
    async close() {
      await Promise.allSettled([consume.close(), publish.close()]);
    },
  };
}

/**
 * `warren dlq ls|redrive ROUTE`: straight against the broker, from the route files (no running
 * Warren needed). 0 when done; 1 when the routes are invalid, the route unknown, the broker
 * unreachable or a redrive stopped early; 2 for a command line that is not understood.
 */
export async function dlqCommand(
  settings: DlqSettings,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: Output = processOutput,
): Promise<number> {
  const [action, routeName, ...extra] = args;
  const usage = (problem: string) => {
    out.stderr(`warren: ${problem}\n\n${dlqUsage}`);
    return 2;
  };
  if (action !== 'ls' && action !== 'redrive')
    return usage(action ? `unknown dlq command ${action}` : 'dlq needs ls or redrive');
  if (!routeName) return usage(`dlq ${action} needs a ROUTE`);
  if (extra.length > 0) return usage(`unexpected argument ${extra[0]}`);
  let limit: number | undefined;
  try {
    limit =
      action === 'ls'
        ? parseLimit(settings.limit, peekDefaultLimit, peekMaxLimit)
        : parseLimit(settings.limit, undefined);
  } catch (err) {
    return usage((err as Error).message);
  }

  let tls: TlsFiles;
  try {
    tls = readTlsFiles(env);
  } catch (err) {
    if (!isWarrenError(err)) throw err;
    out.stderr(`warren: ${err.message}\n`);
    return 1;
  }

  const loaded = await loadConfig(settings.routes, env, settings.plugins);
  if (!loaded.ok) {
    for (const issue of loaded.issues) out.stderr(`${formatIssue(issue)}\n`);
    out.stderr(`${loaded.issues.length} error(s) in ${settings.routes}\n`);
    return 1;
  }
  const secrets = loaded.config.secrets;
  // Interpolated values (a queue name from the environment, a secret a message happens to carry)
  // are never printed.
  const hide = <T>(value: T): T => redact(value, secrets);
  const plan = planTopology(loaded.config).routes.find((r) => r.name === routeName);
  if (!plan) {
    const known = loaded.config.routes.map((r) => r.name).sort();
    out.stderr(
      scrub(
        `warren: no route named ${routeName} in ${settings.routes}` +
          (known.length ? ` (routes: ${known.join(', ')})` : ' (it defines no routes)') +
          '\n',
        secrets,
      ),
    );
    return 1;
  }

  let connections: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    connections = await connect(settings.amqp, tls);
    if (action === 'ls') {
      const peek = await peekQueue(connections.consume, plan.deadLetterQueue, limit!);
      const report: PeekReport = hide({
        route: plan.name,
        queue: peek.queue,
        source: plan.queue,
        total: peek.total,
        limit: limit!,
        messages: peek.messages,
      });
      out.stdout(settings.format === 'json' ? `${JSON.stringify(report)}\n` : formatPeek(report));
      return 0;
    }
    const result = await redriveQueue(connections, {
      from: plan.deadLetterQueue,
      to: plan.queue,
      ...(limit ? { limit } : {}),
    });
    const report: RedriveReport = hide({ route: plan.name, ...result });
    out.stdout(settings.format === 'json' ? `${JSON.stringify(report)}\n` : formatRedrive(report));
    return 0;
  } catch (err) {
    if (!isWarrenError(err)) throw err;
    const hint = replyCode(err) === 404 ? ' (Warren declares it when it first runs the route)' : '';
    if (err instanceof RedriveError && settings.format === 'json') {
      const report = { route: plan.name, from: plan.deadLetterQueue, to: plan.queue };
      out.stdout(
        `${JSON.stringify(hide({ ...report, requested: err.requested, moved: err.moved, error: err.message, code: err.code }))}\n`,
      );
    }
    out.stderr(`warren: ${hide(err.message)}${hint}\n`);
    return 1;
  } finally {
    await connections?.close();
  }
}
