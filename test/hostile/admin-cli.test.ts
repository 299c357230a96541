import { createServer, type Server } from 'node:net';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/admin/app.js';
import { resolveSettings } from '../../src/cli/main.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { amqpUrl, uniqueName, waitFor } from '../helpers/broker.js';
import { type CliProcess, killCli, runCli } from '../helpers/cli.js';
import { trackPlan, useHarness } from '../helpers/warren.js';

/**
 * The admin port and the command line, attacked (issue 9 §6): a taken port, a network bind with
 * no token, a token with stray whitespace, and every bad `--amqp` / `--admin-port`. The real CLI.
 */

/**
 * Every endpoint behind the admin guard, read off the app itself so that a new one is walked too:
 * each POST, and the DLQ peek (it shows message contents).
 */
function guardedEndpoints(route: string): Array<{ method: string; path: string }> {
  const runtime = new Runtime({ amqpUrl, log: pino({ level: 'silent' }), drainTimeoutMs: 1000 });
  const app = createAdminApp(runtime, { reload: async () => undefined });
  const routes = app.routes
    .filter((r) => r.method === 'POST' || r.path === '/api/dlq/:route')
    .map((r) => ({ method: r.method, path: r.path.replace(':name', route).replace(':route', route) }));
  const paths = routes.map((r) => `${r.method} ${r.path}`);
  // The ones the issue names are there; a new one would be walked as well.
  expect(paths).toEqual(
    expect.arrayContaining([
      'POST /api/reload',
      `POST /api/routes/${route}/pause`,
      `POST /api/routes/${route}/resume`,
      `GET /api/dlq/${route}`,
      `POST /api/dlq/${route}/redrive`,
    ]),
  );
  return routes;
}

async function outcome(cli: CliProcess, ms = 20_000): Promise<{ code: number | null; out: string[] }> {
  let timer: NodeJS.Timeout | undefined;
  const { code } = await Promise.race([
    cli.exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${ms} ms: ${cli.stderr()}`)), ms);
    }),
  ]);
  const out = [
    ...cli.lines.map((l) => JSON.stringify(l)),
    ...cli
      .stderr()
      .split('\n')
      .filter((l) => l.trim()),
  ];
  return { code, out };
}

describe('the admin port and the command line', () => {
  const h = useHarness();
  let warren: CliProcess | undefined;
  let routesDir: string;
  let route: string;

  beforeEach(async () => {
    route = 'guarded';
    routesDir = await h.routesDir({
      'r.yaml': `
routes:
  ${route}:
    from: { queue: ${uniqueName('admin-cli')} }
    to: { webhook: { url: "http://127.0.0.1:9/" } }
`,
    });
    await trackPlan(h.broker, routesDir);
    warren = undefined;
    h.defer(() => killCli(warren));
  });

  /** `warren run` on a free port; resolves with the port once it says it started and is ready. */
  async function start(env: NodeJS.ProcessEnv, args: string[] = []): Promise<string> {
    warren = runCli(['run', '--routes', routesDir, '--admin-port', '0', ...args], {
      AMQP_URL: amqpUrl,
      ...env,
    });
    const cli = warren;
    const started = await waitFor(`the started line (stderr: ${cli.stderr()})`, () =>
      cli.lines.find((l) => l.event === 'started'),
    );
    const base = `http://127.0.0.1:${started.adminPort}`;
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200);
    return base;
  }

  it('says in one line that the admin port is taken and exits 1, before claiming anything is served', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { code, out } = await outcome(
        runCli(['run', '--routes', routesDir, '--admin-port', String(port)], { AMQP_URL: amqpUrl }),
      );
      expect(code).toBe(1);
      expect(out, out.join('\n')).toHaveLength(1);
      const line = JSON.parse(out[0]!) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 60, event: 'admin_listen_failed', code: 'WARREN_E_ADMIN_LISTEN' });
      expect(String(line.msg)).toContain(`127.0.0.1:${port}`);
      expect(String(line.msg)).toContain('already in use');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('bound to 0.0.0.0 without a token, refuses every guarded endpoint with 403, even to 127.0.0.1', async () => {
    const base = await start({ WARREN_ADMIN_TOKEN: '' }, ['--admin-host', '0.0.0.0']);
    expect(warren!.lines.find((l) => l.event === 'started')).toMatchObject({
      adminHost: '0.0.0.0',
      adminAuth: 'refused',
    });
    expect(warren!.lines.some((l) => l.event === 'admin_unprotected')).toBe(true);
    for (const { method, path } of guardedEndpoints(route)) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.text()).toContain('WARREN_ADMIN_TOKEN');
    }
    // The route was not paused by any of that, and read-only endpoints answer everyone.
    const routes = (await (await fetch(`${base}/api/routes`)).json()) as { routes: Array<{ state: string }> };
    expect(routes.routes[0]?.state).toBe('consuming');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('bound to loopback without a token, serves every guarded endpoint', async () => {
    // WARREN_ADMIN_HOST as the environment gives it; the default is loopback too.
    const base = await start({ WARREN_ADMIN_TOKEN: ' ', WARREN_ADMIN_HOST: '127.0.0.1' });
    expect(warren!.lines.find((l) => l.event === 'started')).toMatchObject({ adminAuth: 'loopback' });
    for (const { method, path } of guardedEndpoints(route)) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBe(200);
    }
  });

  it('trims the configured token as it trims the presented one', async () => {
    const base = await start({ WARREN_ADMIN_TOKEN: '  tok-6e2f0a\n' }, ['--admin-host', '0.0.0.0']);
    for (const { method, path } of guardedEndpoints(route)) {
      expect((await fetch(`${base}${path}`, { method })).status, `${method} ${path}`).toBe(401);
      const headers = { authorization: 'Bearer   tok-6e2f0a ' };
      expect((await fetch(`${base}${path}`, { method, headers })).status, `${method} ${path}`).toBe(200);
    }
  });

  // Generous: five CLI processes start at once on a shared 2-core machine (the bound is no assertion).
  it('refuses a bad broker URL or admin port at start: exit 2 and what is wrong, never the password', {
    timeout: 180_000,
  }, async () => {
    const cases: Array<{ args?: string[]; env?: NodeJS.ProcessEnv; says: string }> = [
      { args: ['--amqp', ''], says: '--amqp: bad AMQP URL: it is empty' },
      { env: { AMQP_URL: '' }, says: 'AMQP_URL: bad AMQP URL: it is empty' },
      { args: ['--amqp', 'not a url at all'], says: 'does not start with amqp:// or amqps://' },
      {
        args: ['--amqp', 'http://guest:pw-91c4@127.0.0.1:5672'],
        says: 'the scheme is http:, not amqp: or amqps:',
      },
      {
        env: { AMQP_URL: 'amqp://guest:pw-91c4@127.0.0.1:99999' },
        says: 'the port must be a number from 1 to 65535',
      },
      {
        args: ['--amqp', 'amqp://guest:pw-91c4@127.0.0.1:abc'],
        says: 'the port must be a number from 1 to 65535',
      },
      { args: ['--amqp', 'amqp://guest:pw-91c4@'], says: 'the host is missing' },
      {
        args: ['--amqp', 'amqp://guest:pw-91c4@ok,amqp://guest:pw-91c4@bad host'],
        says: 'the host is not a valid',
      },
      { args: ['--admin-port', 'abc'], says: '--admin-port must be a port number (0-65535), got "abc"' },
      {
        env: { WARREN_ADMIN_PORT: '65536' },
        says: 'WARREN_ADMIN_PORT must be a port number (0-65535), got "65536"',
      },
      { args: ['--admin-port', ''], says: 'got ""' },
    ];
    // Every case through the settings the CLI resolves, for `run` and `dlq` (both use the broker)…
    for (const { args = [], env = {}, says } of cases) {
      for (const command of [['run'], ['dlq', 'ls', route]]) {
        const what = `${command.join(' ')} ${JSON.stringify({ args, env })}`;
        const resolve = () => resolveSettings([...command, ...args], { AMQP_URL: amqpUrl, ...env });
        expect(resolve, what).toThrow(says);
        try {
          resolve();
        } catch (err) {
          expect(err, what).toMatchObject({ code: 'WARREN_E_USAGE' });
          expect((err as Error).message, what).not.toContain('pw-91c4');
        }
      }
    }
    // …and a few through the real CLI: exit 2 at once, where it used to retry forever.
    await Promise.all(
      [cases[0]!, cases[1]!, cases[3]!, cases[5]!, cases[8]!].map(async ({ args = [], env = {}, says }) => {
        const argv = ['run', '--routes', routesDir, ...args];
        const { code, out } = await outcome(runCli(argv, { AMQP_URL: amqpUrl, ...env }), 60_000);
        const text = out.join('\n');
        expect(code, `${argv.join(' ')}: ${text}`).toBe(2);
        expect(text).toContain(says);
        expect(text).not.toContain('pw-91c4');
      }),
    );
  });
});
