import { parseArgs } from 'node:util';
import { createAdminApp } from '../admin/app.js';
import { adminToken, isLoopbackAddress } from '../admin/auth.js';
import { listenAdmin } from '../admin/listen.js';
import { parseAmqpUrls, redactUrl } from '../amqp/url.js';
import { parseDuration } from '../config/duration.js';
import { formatIssue, issueJson } from '../config/issues.js';
import { loadConfig } from '../config/load.js';
import { defaultMaxFileBytes } from '../config/read.js';
import { redact } from '../config/redact.js';
import { routesSchema } from '../config/schema.js';
import { WarrenError } from '../errors.js';
import { Reloader } from '../runtime/reloader.js';
import { type PruneCandidates, Runtime } from '../runtime/runtime.js';
import { createLogger } from '../telemetry/log.js';
import { type Plan, planTopology } from '../topology/plan.js';
import { formatPlan } from '../topology/print.js';

const usage = `Usage: warren <command> [options]

Commands:
  run        consume the routes and deliver (until SIGTERM/SIGINT)
  validate   check route files; exit 1 with file:line:col errors
  plan       print what run would declare, bind and consume (secrets redacted);
             --prune also lists what a running Warren declared that the files no longer use
  schema     print the route-file JSON Schema
  test       run route test files [DIR|FILE...] (default ./routes.d.test) without a broker; exit 1 on a failure
  dlq ls ROUTE        show the messages in a route's dead-letter queue, leaving them there (--limit N, default 20)
  dlq redrive ROUTE   move them back to the route's source queue (--limit N, default all); no running Warren needed

Options (environment variable, default):
  --routes DIR         route files (WARREN_ROUTES, ./routes.d); validate and plan also take DIR as argument
  --plugins DIR        plugin files, watched for reloads (WARREN_PLUGINS, ./plugins)
  --amqp URL           broker (AMQP_URL, amqp://guest:guest@127.0.0.1:5672); amqp:// or amqps://
  --admin-port N       admin HTTP port (WARREN_ADMIN_PORT, 8080; 0 picks a free one)
  --admin-host HOST    address the admin API listens on (WARREN_ADMIN_HOST, 127.0.0.1); without
                       WARREN_ADMIN_TOKEN, pause/resume/reload/dlq answer only on a loopback address
  --drain-timeout D    how long shutdown waits for deliveries in flight (WARREN_DRAIN_TIMEOUT, 30s)
  --format text|json   output of validate, plan and dlq (text)
  --limit N            dlq: how many messages to show (1-1000) or move
  --admin-url URL      the running Warren that plan --prune asks (WARREN_ADMIN_URL, http://127.0.0.1:<admin-port>)
  --max-file-bytes N   largest route file read, in bytes (WARREN_MAX_FILE_BYTES, 4194304)
`;

export interface Settings {
  routes: string;
  plugins: string;
  amqp: string;
  adminPort: number;
  adminHost: string;
  drainTimeoutMs: number;
  format: 'text' | 'json';
  prune: boolean;
  adminUrl: string;
  /** `--limit` of `warren dlq`, checked there. */
  limit: string | undefined;
  /** Largest route file read (a larger one is an error at file:1:1). */
  maxFileBytes: number;
}

export function resolveSettings(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { settings: Settings; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      routes: { type: 'string' },
      plugins: { type: 'string' },
      amqp: { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-host': { type: 'string' },
      'drain-timeout': { type: 'string' },
      format: { type: 'string' },
      prune: { type: 'boolean' },
      'admin-url': { type: 'string' },
      limit: { type: 'string' },
      'max-file-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json')
    throw new WarrenError('WARREN_E_USAGE', `--format must be text or json`);
  const port = parsePort(
    values['admin-port'] ?? env.WARREN_ADMIN_PORT ?? '8080',
    values['admin-port'] === undefined && env.WARREN_ADMIN_PORT !== undefined
      ? 'WARREN_ADMIN_PORT'
      : '--admin-port',
  );
  const amqpUrl = values.amqp ?? env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  // Checked where a broker is used, so that `validate` in CI does not depend on AMQP_URL.
  if (positionals[0] === 'run' || positionals[0] === 'dlq') {
    try {
      parseAmqpUrls(amqpUrl);
    } catch (err) {
      const source = values.amqp === undefined ? 'AMQP_URL' : '--amqp';
      throw new WarrenError('WARREN_E_USAGE', `${source}: ${(err as Error).message}`);
    }
  }
  const adminHost = (values['admin-host'] ?? env.WARREN_ADMIN_HOST ?? '127.0.0.1').trim();
  if (adminHost === '') throw new WarrenError('WARREN_E_USAGE', '--admin-host is empty');
  const drain = values['drain-timeout'] ?? env.WARREN_DRAIN_TIMEOUT ?? '30s';
  let drainTimeoutMs: number;
  try {
    drainTimeoutMs = parseDuration(/^\d+$/.test(drain) ? Number(drain) : drain);
  } catch {
    throw new WarrenError('WARREN_E_USAGE', `bad drain timeout: ${drain} (use e.g. 30s)`);
  }
  const maxFile = values['max-file-bytes'] ?? env.WARREN_MAX_FILE_BYTES ?? String(defaultMaxFileBytes);
  if (!/^\d+$/.test(maxFile.trim()) || Number(maxFile) < 1)
    throw new WarrenError(
      'WARREN_E_USAGE',
      `bad --max-file-bytes: ${maxFile} (a number of bytes, e.g. 8388608)`,
    );
  return {
    settings: {
      routes: values.routes ?? env.WARREN_ROUTES ?? './routes.d',
      plugins: values.plugins ?? env.WARREN_PLUGINS ?? './plugins',
      amqp: amqpUrl,
      adminPort: port,
      adminHost,
      drainTimeoutMs,
      format,
      prune: values.prune ?? false,
      adminUrl: values['admin-url'] ?? env.WARREN_ADMIN_URL ?? `http://127.0.0.1:${port}`,
      limit: values.limit,
      maxFileBytes: Number(maxFile),
    },
    positionals: values.help ? ['help'] : positionals,
  };
}

/** `--admin-port` / `WARREN_ADMIN_PORT`: digits only, 0-65535; the error quotes what it got. */
function parsePort(text: string, source: string): number {
  const port = /^\s*\d{1,5}\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new WarrenError(
      'WARREN_E_USAGE',
      `${source} must be a port number (0-65535), got ${JSON.stringify(text)}`,
    );
  }
  return port;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: ReturnType<typeof resolveSettings>;
  try {
    parsed = resolveSettings(argv, env);
  } catch (err) {
    process.stderr.write(`warren: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const [command, dir] = parsed.positionals;
  // dlq's positionals are a sub-command and a route, not a routes directory.
  if (command === 'dlq')
    return (await import('./dlq.js')).dlqCommand(parsed.settings, parsed.positionals.slice(1), env);
  const settings = { ...parsed.settings, routes: dir ?? parsed.settings.routes };
  switch (command) {
    case 'run':
      return run(settings, env);
    case 'validate':
      return validate(settings, env);
    case 'plan':
      return plan(settings, env);
    case 'test':
      return (await import('./test.js')).testCommand(parsed.settings, parsed.positionals.slice(1), env);
    case 'schema':
      process.stdout.write(`${JSON.stringify(routesSchema, null, 2)}\n`);
      return 0;
    case 'help':
    case undefined:
      process.stdout.write(usage);
      return command ? 0 : 2;
    default:
      process.stderr.write(`warren: unknown command ${command}\n\n${usage}`);
      return 2;
  }
}

async function validate(settings: Settings, env: NodeJS.ProcessEnv): Promise<number> {
  const { checkPlugins } = await import('../config/check-plugins.js');
  const result = await checkPlugins(
    await loadConfig(settings.routes, env, settings.plugins, { maxFileBytes: settings.maxFileBytes }),
  );
  if (settings.format === 'json') {
    const out = result.ok
      ? { valid: true, routes: result.config.routes.length, issues: [] }
      : { valid: false, issues: result.issues.map(issueJson) };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`${result.issues.length} error(s) in ${settings.routes}\n`);
    return 1;
  }
  const { exchanges, queues, routes } = result.config;
  process.stdout.write(
    `${settings.routes}: valid (${routes.length} routes, ${exchanges.length} exchanges, ${queues.length} queues)\n`,
  );
  return 0;
}

async function plan(settings: Settings, env: NodeJS.ProcessEnv): Promise<number> {
  const result = await loadConfig(settings.routes, env, settings.plugins, {
    maxFileBytes: settings.maxFileBytes,
  });
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    return 1;
  }
  const planned = redact(planTopology(result.config), result.config.secrets);
  const prune = settings.prune ? await pruneCandidates(settings.adminUrl, planned) : undefined;
  if (prune instanceof Error) {
    process.stderr.write(`warren: ${prune.message}\n`);
    return 1;
  }
  if (settings.format === 'json') {
    process.stdout.write(`${JSON.stringify(prune ? { ...planned, prune } : planned, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatPlan(planned));
  if (prune) process.stdout.write(formatPrune(prune, settings.adminUrl));
  return 0;
}

/** What the running Warren declared that neither it nor these files use any more. */
async function pruneCandidates(adminUrl: string, planned: Plan): Promise<PruneCandidates | Error> {
  let candidates: PruneCandidates;
  try {
    const res = await fetch(new URL('/api/prune', adminUrl), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return new Error(`${adminUrl}/api/prune answered ${res.status}`);
    candidates = (await res.json()) as PruneCandidates;
  } catch (err) {
    return new Error(
      `no running Warren at ${adminUrl} (${(err as Error).message}): prune candidates come from the instance ` +
        'that declared them; pass --admin-url',
    );
  }
  const queues = new Set([...planned.queues, ...planned.routes.flatMap((r) => r.queues)].map((q) => q.name));
  const exchanges = new Set(planned.exchanges.map((x) => x.name));
  return {
    queues: candidates.queues.filter((q) => !queues.has(q.name)),
    exchanges: candidates.exchanges.filter((x) => !exchanges.has(x)),
  };
}

function formatPrune(prune: PruneCandidates, adminUrl: string): string {
  const lines = [
    '',
    `# prune candidates (declared by ${adminUrl}, used by neither it nor these files; never deleted by Warren)`,
  ];
  for (const q of prune.queues) {
    const counts = q.messages === undefined ? '' : ` (${q.messages} ready, ${q.consumers} consumers)`;
    lines.push(`queue     ${q.name}${counts}`);
  }
  for (const x of prune.exchanges) lines.push(`exchange  ${x}`);
  if (prune.queues.length + prune.exchanges.length === 0) lines.push('# none');
  return `${lines.join('\n')}\n`;
}

async function run(settings: Settings, env: NodeJS.ProcessEnv): Promise<number> {
  const log = createLogger();
  const result = await loadConfig(settings.routes, env, settings.plugins, {
    maxFileBytes: settings.maxFileBytes,
  });
  if (!result.ok) {
    for (const issue of result.issues) {
      log.error({ event: 'config_invalid', code: 'WARREN_E_CONFIG_INVALID', ...issue }, formatIssue(issue));
    }
    log.fatal(
      { event: 'config_invalid', errors: result.issues.length },
      `no valid configuration in ${settings.routes}`,
    );
    return 1;
  }
  const runtime = new Runtime({ amqpUrl: settings.amqp, log, drainTimeoutMs: settings.drainTimeoutMs });
  const reloader = new Reloader(runtime, {
    routesDir: settings.routes,
    pluginsDir: settings.plugins,
    log,
    env,
    maxFileBytes: settings.maxFileBytes,
  });
  let boundToLoopback = true;
  const token = adminToken(env.WARREN_ADMIN_TOKEN);
  const admin = createAdminApp(runtime, {
    reload: () => reloader.reload('api'),
    ...(token ? { token } : {}),
    boundToLoopback: () => boundToLoopback,
  });
  // The port first: if it is taken, say so in one line and start nothing.
  let listening: Awaited<ReturnType<typeof listenAdmin>>;
  try {
    listening = await listenAdmin(admin, settings.adminHost, settings.adminPort);
  } catch (err) {
    const e = err as WarrenError;
    log.fatal({ event: 'admin_listen_failed', code: e.code, err: (e.cause as Error)?.message }, e.message);
    return 1;
  }
  const { server, address } = listening;
  boundToLoopback = isLoopbackAddress(address.address);
  await reloader.prime();
  runtime.start(result.config);
  reloader.watch();
  log.info(
    {
      event: 'started',
      routes: result.config.routes.length,
      version: result.config.version,
      amqp: redactUrl(settings.amqp),
      adminHost: address.address,
      adminPort: address.port,
      adminAuth: token ? 'token' : boundToLoopback ? 'loopback' : 'refused',
    },
    `warren running ${result.config.routes.length} routes from ${settings.routes}; admin on ${settings.adminHost}:${address.port}`,
  );
  if (!token && !boundToLoopback) {
    log.warn(
      { event: 'admin_unprotected', adminHost: address.address },
      'no WARREN_ADMIN_TOKEN and the admin API listens on a network address: pause, resume, reload and dlq answer 403',
    );
  }
  const onHangup = () => void reloader.reload('SIGHUP');
  process.on('SIGHUP', onHangup);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) {
        log.warn(
          { event: 'shutdown_forced', signal },
          'second signal: exiting now; unacked deliveries are requeued',
        );
        process.exit(1);
      }
      stopping = true;
      reloader.close();
      process.off('SIGHUP', onHangup);
      log.info(
        { event: 'shutdown', signal, deadlineMs: settings.drainTimeoutMs },
        'draining deliveries in flight',
      );
      const { unfinished } = await runtime.stop(settings.drainTimeoutMs);
      await new Promise<void>((done) => server.close(() => done()));
      log.info(
        { event: 'stopped', unfinished },
        unfinished ? `stopped; ${unfinished} unfinished deliveries requeued` : 'stopped',
      );
      resolve(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
