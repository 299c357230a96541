import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, spawnWarren, waitReady } from '../helpers/cli.js';
import { closedPort, Receiver } from '../helpers/receiver.js';
import { trackPlan, useHarness } from '../helpers/warren.js';

interface Alert {
  labels: Record<string, string>;
  state: string;
}

/**
 * The real rules with only `for:` shortened (to 2 s), so the test waits seconds instead of the
 * minutes an on-call person wants; every expression is the one deployed.
 */
async function shortenedRules(file: string): Promise<void> {
  const doc = parse(await readFile('deploy/prometheus/warren-alerts.yaml', 'utf8')) as {
    groups: Array<{ rules: Array<{ for?: string }> }>;
  };
  for (const rule of doc.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = '2s';
  await writeFile(file, stringify(doc));
}

async function startPrometheus(
  dir: string,
  warrenPort: number,
): Promise<{ child: ChildProcess; url: string }> {
  await shortenedRules(join(dir, 'rules.yaml'));
  await writeFile(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yaml'],
      scrape_configs: [{ job_name: 'warren', static_configs: [{ targets: [`127.0.0.1:${warrenPort}`] }] }],
    }),
  );
  const port = await closedPort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const started = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT' ? new Error('prometheus is not installed: `apt-get install prometheus`') : err,
      ),
    );
    child.once('spawn', resolve);
  });
  await started;
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`prometheus to be ready (stderr: ${stderr})`, async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr}`);
    return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
  });
  return { child, url };
}

async function alerts(url: string, name: string): Promise<Alert[]> {
  const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as { data: { alerts: Array<Alert> } };
  return body.data.alerts.filter((a) => a.labels.alertname === name);
}

describe('the alert rules in a real Prometheus scraping a running Warren', () => {
  const h = useHarness();

  it("fire WarrenCircuitOpen while a route's receiver is down, and resolve it once the receiver is back", async () => {
    const receiver = await h.receive();
    const port = receiver.port;
    const exchange = uniqueName('e2e-x');
    const dir = await h.routesDir({
      'routes.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  orders:
    from: { queue: ${uniqueName('e2e-q')}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to:
      webhook:
        url: "${receiver.url('/orders')}"
        timeout: 1s
        circuit: { consecutiveFailures: 3, cooldown: 1s }
    retry: { attempts: 5, backoff: [1s] }
`,
    });
    await trackPlan(h.broker, dir);
    const warren = await spawnWarren({ routes: dir, env: { WARREN_LOG_LEVEL: 'warn' } });
    h.defer(() => killCli(warren));
    await waitReady(warren);

    const prometheus = await startPrometheus(await h.tempDir(), warren.adminPort);
    h.defer(async () => {
      if (prometheus.child.exitCode !== null) return;
      prometheus.child.kill('SIGTERM');
      await once(prometheus.child, 'exit');
    });
    await waitFor('prometheus to scrape warren', async () => {
      const q = await fetch(`${prometheus.url}/api/v1/query?query=warren_route_up`);
      const body = (await q.json()) as { data: { result: unknown[] } };
      return body.data.result.length > 0;
    });
    expect(await alerts(prometheus.url, 'WarrenCircuitOpen')).toEqual([]);

    await receiver.close();
    for (let i = 0; i < 10; i++) await h.broker.publish(exchange, 'order.created', `{"n":${i}}`);
    const firing = await waitFor(
      'WarrenCircuitOpen to fire',
      async () => {
        const found = await alerts(prometheus.url, 'WarrenCircuitOpen');
        return found.find((a) => a.state === 'firing');
      },
      30_000,
    );
    expect(firing.labels).toMatchObject({ route: 'orders', job: 'warren', severity: 'warning' });

    const back = await Receiver.start(() => 200, port);
    h.defer(() => back.close());
    await waitFor(
      'WarrenCircuitOpen to resolve',
      async () => (await alerts(prometheus.url, 'WarrenCircuitOpen')).length === 0,
      30_000,
    );
    expect(back.requests.length).toBeGreaterThan(0);
  }, 90_000);
});
