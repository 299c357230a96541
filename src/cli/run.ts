import { createAdminApp } from '../admin/app.js';
import { adminToken, isLoopbackAddress } from '../admin/auth.js';
import { listenAdmin } from '../admin/listen.js';
import { readTlsFiles } from '../amqp/tls.js';
import { redactUrl, type TlsFiles } from '../amqp/url.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load.js';
import { isWarrenError, type WarrenError } from '../errors.js';
import { Reloader } from '../runtime/reloader.js';
import { Runtime } from '../runtime/runtime.js';
import { createLogger } from '../telemetry/log.js';
import { startTracing, stopTracing } from '../telemetry/tracing.js';
import type { Settings } from './main.js';

export type RunSettings = Pick<
  Settings,
  'routes' | 'plugins' | 'schemas' | 'amqp' | 'adminPort' | 'adminHost' | 'drainTimeoutMs' | 'maxFileBytes'
>;

/**
 * `warren run`: consumes the routes and delivers, reloading on file changes, SIGHUP and the admin
 * API, until SIGTERM or SIGINT. 1 when the routes are invalid or the admin port cannot be bound;
 * 0 after a drained shutdown.
 */
export async function runCommand(settings: RunSettings, env: NodeJS.ProcessEnv): Promise<number> {
  const log = createLogger();
  let tls: TlsFiles;
  try {
    tls = readTlsFiles(env);
  } catch (err) {
    if (!isWarrenError(err)) throw err;
    log.fatal({ event: 'tls_files_unusable', code: err.code }, err.message);
    return 1;
  }
  const result = await loadConfig(settings.routes, env, settings.plugins, {
    maxFileBytes: settings.maxFileBytes,
    schemasDir: settings.schemas,
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
  const runtime = new Runtime({
    amqpUrl: settings.amqp,
    log,
    drainTimeoutMs: settings.drainTimeoutMs,
    tls,
  });
  const reloader = new Reloader(runtime, {
    routesDir: settings.routes,
    pluginsDir: settings.plugins,
    schemasDir: settings.schemas,
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
  // Before the first delivery, so every delivery has its span; nothing of OpenTelemetry loads when off.
  const tracing = await startTracing(env, log);
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
      tracing,
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
      // After the drain, so the spans of the last deliveries are among those exported.
      await stopTracing();
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
