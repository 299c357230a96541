import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectOptions, parseAmqpUrl } from '../../src/amqp/url.js';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { killCli, runCliToEnd, spawnWarren, type WarrenProcess, waitReady } from '../helpers/cli.js';
import { Receiver } from '../helpers/receiver.js';
import { TlsNode } from '../helpers/tls-node.js';

/**
 * `amqps://` against a real RabbitMQ node with a TLS listener and certificates made for the test:
 * Warren trusts the broker only through the CA it is given, says which host and why when it does
 * not (and keeps retrying), and presents a client certificate when the listener requires one.
 */
/**
 * Node warns once per process (DEP0123) that amqplib sends an IP address as the TLS server name;
 * harmless (verification checks the certificate's IP entries), and not Warren's to silence.
 */
function withoutIpSniWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !/DEP0123|--trace-deprecation/.test(l))
    .join('\n')
    .trim();
}

describe('TLS to the broker', () => {
  let node: TlsNode;
  let receiver: Receiver;
  let routes: string;
  let queue: string;
  let warren: WarrenProcess | undefined;

  beforeAll(async () => {
    node = await TlsNode.start({ requireClientCertificate: false });
    receiver = await Receiver.start();
    routes = await mkdtemp(join(tmpdir(), 'warren-tls-routes-'));
    queue = uniqueName('tls.orders');
    await writeFile(
      join(routes, 'r.yaml'),
      `routes:\n  orders:\n    from: { queue: ${queue} }\n    to: { webhook: { url: "${receiver.url()}", timeout: 2s } }\n`,
    );
  }, 120_000);

  afterAll(async () => {
    await receiver?.close();
    await node?.stop();
    if (routes) await rm(routes, { recursive: true, force: true });
  }, 90_000);

  afterEach(async () => {
    await killCli(warren);
    warren = undefined;
  });

  const certs = () => node.certificates;
  const start = (env: NodeJS.ProcessEnv) => spawnWarren({ routes, amqp: node.url, env });

  /** Publishes through the TLS listener itself, with the client certificate (accepted either way). */
  async function publish(id: string): Promise<void> {
    const connection = await amqp.connect(connectOptions(parseAmqpUrl(node.url)), {
      ca: [await readFile(certs().ca)],
      cert: await readFile(certs().clientCert),
      key: await readFile(certs().clientKey),
    });
    try {
      const channel = await connection.createConfirmChannel();
      channel.sendToQueue(queue, Buffer.from('{}'), { messageId: id, contentType: 'application/json' });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  async function delivers(): Promise<void> {
    const id = uniqueName('tls-message');
    await publish(id);
    await waitFor(`the webhook to receive ${id}`, () => receiver.ids().has(id), 20_000);
  }

  /** The one amqp_unreachable line of an outage, and proof that Warren went on trying. */
  async function refusedClearly(proc: WarrenProcess, reason: RegExp): Promise<string> {
    await waitFor(
      'the amqp_unreachable line',
      () => proc.lines.some((l) => l.event === 'amqp_unreachable'),
      20_000,
    );
    const line = proc.lines.find((l) => l.event === 'amqp_unreachable')!;
    expect(line.msg).toContain('127.0.0.1:5696');
    expect(line.msg).toMatch(reason);
    expect(line.tls).toMatch(reason);
    expect((await proc.admin('/readyz')).status).toBe(503);
    await waitFor(
      'two reconnect attempts',
      () => proc.lines.filter((l) => l.event === 'amqp_reconnect').length >= 2,
      20_000,
    );
    expect(proc.child.exitCode).toBeNull();
    return String(line.msg);
  }

  it('connects with the test CA (WARREN_AMQP_CA) and delivers', async () => {
    warren = await start({ WARREN_AMQP_CA: certs().ca });
    await waitReady(warren);
    await delivers();
    // The dead-letter queue Warren declared is reachable by `warren dlq` with the same CA.
    const ls = await runCliToEnd(['dlq', 'ls', 'orders', '--routes', routes, '--amqp', node.url], {
      WARREN_AMQP_CA: certs().ca,
    });
    expect(withoutIpSniWarning(ls.stderr)).toBe('');
    expect(ls.code).toBe(0);
  });

  it('with a CA that did not sign the broker certificate: says which host and why, not ready, retries', async () => {
    warren = await start({ WARREN_AMQP_CA: certs().otherCa });
    const message = await refusedClearly(
      warren,
      /certificate of 127\.0\.0\.1:5696 not trusted: .+\(set WARREN_AMQP_CA\)/,
    );
    expect(message).not.toContain('guest:guest');
    const dlq = await runCliToEnd(['dlq', 'ls', 'orders', '--routes', routes, '--amqp', node.url], {
      WARREN_AMQP_CA: certs().otherCa,
    });
    expect(dlq.code).toBe(1);
    expect(dlq.stderr).toMatch(/TLS: certificate of 127\.0\.0\.1:5696 not trusted: .+\(set WARREN_AMQP_CA\)/);
  });

  it('with the system CAs only (no WARREN_AMQP_CA): the test CA is not trusted', async () => {
    warren = await start({});
    await refusedClearly(warren, /certificate of 127\.0\.0\.1:5696 not trusted/);
  });

  it('stops at start, naming the variable and the path, when a TLS file cannot be read', async () => {
    const missing = join(routes, 'no-such-ca.pem');
    const run = await runCliToEnd(['run', '--routes', routes, '--amqp', node.url, '--admin-port', '0'], {
      WARREN_AMQP_CA: missing,
    });
    expect(run.code).toBe(1);
    const fatal = run.lines.find((l) => l.event === 'tls_files_unusable');
    expect(fatal?.code).toBe('WARREN_E_TLS_FILE');
    expect(fatal?.msg).toBe(
      `WARREN_AMQP_CA: cannot read ${missing}: not found (or a symbolic link to a missing file)`,
    );
  });

  describe('a listener that requires a client certificate', () => {
    beforeAll(async () => {
      await node.restart({ requireClientCertificate: true });
    }, 120_000);

    it('refuses Warren without WARREN_AMQP_CERT/KEY, clearly', async () => {
      warren = await start({ WARREN_AMQP_CA: certs().ca });
      await refusedClearly(
        warren,
        /TLS: 127\.0\.0\.1:5696 requires a client certificate: .+ \(set WARREN_AMQP_CERT and WARREN_AMQP_KEY\)/,
      );
    });

    it('connects with WARREN_AMQP_CERT and WARREN_AMQP_KEY and delivers', async () => {
      warren = await start({
        WARREN_AMQP_CA: certs().ca,
        WARREN_AMQP_CERT: certs().clientCert,
        WARREN_AMQP_KEY: certs().clientKey,
      });
      await waitReady(warren);
      await delivers();
    });
  });
});
