import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { amqpUrl, waitFor } from './broker.js';
import { closedPort } from './receiver.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The real CLI as a child process, with its JSON log lines parsed as they arrive. */
export interface CliProcess {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node --no-node-snapshot bin/warren.js ARGS` (dist/ is built by `npm test`'s pretest). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  const child = spawn(process.execPath, ['--no-node-snapshot', 'bin/warren.js', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: line });
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, stderr: () => stderr, exited };
}

/** `warren run` as a child process, with its admin port. */
export interface WarrenProcess extends CliProcess {
  adminPort: number;
  /** A request to its admin server (over real HTTP). */
  admin(path: string, init?: RequestInit, host?: string): Promise<Response>;
}

/**
 * Starts `warren run` on a routes directory; the admin server gets a free port. Without `amqp`, it
 * connects to the test broker through `AMQP_URL`; the log level is debug unless `env` says otherwise.
 */
export async function spawnWarren(options: {
  routes: string;
  plugins?: string;
  amqp?: string;
  drainTimeout?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<WarrenProcess> {
  const adminPort = await closedPort();
  const args = ['run', '--routes', options.routes];
  if (options.plugins) args.push('--plugins', options.plugins);
  if (options.amqp) args.push('--amqp', options.amqp);
  args.push('--admin-port', String(adminPort));
  if (options.drainTimeout) args.push('--drain-timeout', options.drainTimeout);
  const cli = runCli(args, {
    ...(options.amqp ? {} : { AMQP_URL: amqpUrl }),
    WARREN_LOG_LEVEL: 'debug',
    ...options.env,
  });
  return {
    ...cli,
    adminPort,
    admin: (path, init, host = '127.0.0.1') => fetch(`http://${host}:${adminPort}${path}`, init),
  };
}

/** Resolves when the process's /readyz answers 200; fails at once if it exits first. */
export async function waitReady(proc: WarrenProcess): Promise<void> {
  await waitFor(`warren to be ready (stderr: ${proc.stderr()})`, async () => {
    if (proc.child.exitCode !== null)
      throw new Error(`warren exited ${proc.child.exitCode}: ${proc.stderr()}`);
    return (await proc.admin('/readyz')).status === 200;
  });
}

/** Kills a CLI process still running (SIGKILL: a test that failed may have left it stuck) and waits. */
export async function killCli(proc: CliProcess | undefined): Promise<void> {
  const child = proc?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await proc.exited;
}

/** Runs the CLI to its end and collects everything it wrote. */
export async function runCliToEnd(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = runCli(args, env);
  const { code } = await run.exited;
  for (const stream of [run.child.stdout!, run.child.stderr!]) {
    if (!stream.readableEnded) await once(stream, 'end');
  }
  const text = run.lines.map((l) => (typeof l.unparsed === 'string' ? l.unparsed : JSON.stringify(l)));
  return { code, lines: run.lines, text, stderr: run.stderr() };
}
