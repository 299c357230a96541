import { parseArgs } from 'node:util';
import { parseAmqpUrls } from '../amqp/url.js';
import { parseDuration } from '../config/duration.js';
import { defaultMaxFileBytes } from '../config/read.js';
import { routesSchema } from '../config/schema.js';
import { defaultSchemasDir } from '../config/schemas.js';
import { WarrenError } from '../errors.js';

const usage = `Usage: warren <command> [options]

Commands:
  run        consume the routes and deliver (until SIGTERM/SIGINT)
  validate   check route files; exit 1 with file:line:col errors
  plan       print what run would declare, bind and consume (secrets redacted);
             --prune also lists what a running Warren declared that the files no longer use
  schema     print the route-file JSON Schema
  schema check OLD NEW  exit 1 if schema file NEW rejects an example message OLD accepts
                        (NAME.examples.json next to OLD and NEW, or --examples FILE; 2: nothing to compare)
  test       run route test files [DIR|FILE...] (default ./routes.d.test) without a broker; exit 1 on a failure
  dlq ls ROUTE        show the messages in a route's dead-letter queue, leaving them there (--limit N, default 20)
  dlq redrive ROUTE   move them back to the route's source queue (--limit N, default all); no running Warren needed

Options (environment variable, default):
  --routes DIR         route files (WARREN_ROUTES, ./routes.d); validate and plan also take DIR as argument
  --plugins DIR        plugin files, watched for reloads (WARREN_PLUGINS, ./plugins)
  --schemas DIR        JSON Schemas a route's schema: names, watched for reloads (WARREN_SCHEMAS, ./schemas)
  --amqp URL           broker (AMQP_URL, amqp://guest:guest@127.0.0.1:5672); amqp:// or amqps://
  --admin-port N       admin HTTP port (WARREN_ADMIN_PORT, 8080; 0 picks a free one)
  --admin-host HOST    address the admin API listens on (WARREN_ADMIN_HOST, 127.0.0.1); without
                       WARREN_ADMIN_TOKEN, pause/resume/reload/dlq answer only on a loopback address
  --drain-timeout D    how long shutdown waits for deliveries in flight (WARREN_DRAIN_TIMEOUT, 30s)
  --format text|json   output of validate, plan, dlq and schema check (text)
  --examples FILE      schema check: a JSON array of example messages (repeatable)
  --limit N            dlq: how many messages to show (1-1000) or move
  --admin-url URL      the running Warren that plan --prune asks (WARREN_ADMIN_URL, http://127.0.0.1:<admin-port>)
  --max-file-bytes N   largest route file read, in bytes (WARREN_MAX_FILE_BYTES, 4194304)

TLS (amqps://; environment only, read at start; the system CAs are always trusted):
  WARREN_AMQP_CA       PEM file of a CA to trust besides them
  WARREN_AMQP_CERT     PEM client certificate, for a broker that requires one (with WARREN_AMQP_KEY)
  WARREN_AMQP_KEY      PEM private key of that certificate
`;

export interface Settings {
  routes: string;
  plugins: string;
  /** The schemas directory (`schema:` of a route names files in it). */
  schemas: string;
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
  /** `--examples` of `warren schema check`. */
  examples: string[];
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
      schemas: { type: 'string' },
      amqp: { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-host': { type: 'string' },
      'drain-timeout': { type: 'string' },
      format: { type: 'string' },
      prune: { type: 'boolean' },
      'admin-url': { type: 'string' },
      limit: { type: 'string' },
      'max-file-bytes': { type: 'string' },
      examples: { type: 'string', multiple: true },
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
      schemas: values.schemas ?? env.WARREN_SCHEMAS ?? defaultSchemasDir,
      amqp: amqpUrl,
      adminPort: port,
      adminHost,
      drainTimeoutMs,
      format,
      prune: values.prune ?? false,
      adminUrl: values['admin-url'] ?? env.WARREN_ADMIN_URL ?? `http://127.0.0.1:${port}`,
      limit: values.limit,
      maxFileBytes: Number(maxFile),
      examples: values.examples ?? [],
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
  // Each command is loaded when chosen: `schema` and `validate` in CI need no broker client or admin server.
  switch (command) {
    case 'run':
      return (await import('./run.js')).runCommand(settings, env);
    case 'validate':
      return (await import('./validate.js')).validateCommand(settings, env);
    case 'plan':
      return (await import('./plan.js')).planCommand(settings, env);
    case 'test':
      return (await import('./test.js')).testCommand(parsed.settings, parsed.positionals.slice(1), env);
    case 'schema':
      if (dir === 'check')
        return (await import('./schema-check.js')).schemaCheckCommand(
          parsed.settings,
          parsed.positionals.slice(2),
        );
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
