import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from './broker.js';

const run = promisify(execFile);

/** PEM files a test made with `openssl`: a CA, a server certificate it signed, a client one, and a CA that signed neither. */
export interface TestCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA of its own: trusting it alone does not make the server trusted. */
  otherCa: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir, timeout: 30_000 });
}

/** A P-256 key and a certificate request for `subject`. */
async function request(dir: string, name: string, subject: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
}

async function selfSignedCa(dir: string, name: string, subject: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    subject,
  ]);
}

async function sign(dir: string, name: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

/**
 * Makes, in `dir`, a CA, a server certificate for 127.0.0.1 and localhost, a client certificate,
 * both signed by the CA, and a second CA that signed nothing here.
 */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  await selfSignedCa(dir, 'ca', '/CN=warren-test-ca');
  await selfSignedCa(dir, 'other-ca', '/CN=warren-other-ca');
  await request(dir, 'server', '/CN=localhost');
  await sign(dir, 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await request(dir, 'client', '/CN=warren-client');
  await sign(dir, 'client', 'extendedKeyUsage=clientAuth\n');
  const at = (file: string) => join(dir, file);
  return {
    dir,
    ca: at('ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    otherCa: at('other-ca.pem'),
  };
}

const nodeName = 'warren-tls@localhost';

/**
 * One extra RabbitMQ node beside the default broker (which it never touches), with a TLS listener
 * on 127.0.0.1:5696 using certificates made for the test; its plain listener (5695) is only for
 * its own tools. It has its own node name, distribution port (25695), data, logs and config file,
 * like the nodes of `scripts/rabbitmq-cluster`, and runs as the rabbitmq user: the test runs as
 * root and `rabbitmq-server -detached` switches user, so every file it reads is chowned to it.
 */
export class TlsNode {
  readonly port = 5696;
  readonly certificates: TestCertificates;
  readonly #home: string;

  private constructor(home: string, certificates: TestCertificates) {
    this.#home = home;
    this.certificates = certificates;
  }

  /** `amqps://guest:guest@127.0.0.1:5696` (guest may log in over loopback). */
  get url(): string {
    return `amqps://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Makes the certificates and starts the node (about 10 s). */
  static async start(options: { requireClientCertificate: boolean }): Promise<TlsNode> {
    // Left behind by a crashed run, a node of this name would hold the ports.
    await stopNode();
    const home = await mkdtemp(join(tmpdir(), 'warren-tls-'));
    const node = new TlsNode(home, await makeCertificates(home));
    await node.#boot(options.requireClientCertificate);
    return node;
  }

  /** Stops the node and starts it again with the other client-certificate policy. */
  async restart(options: { requireClientCertificate: boolean }): Promise<void> {
    await stopNode();
    await this.#boot(options.requireClientCertificate);
  }

  async stop(): Promise<void> {
    await stopNode();
    await rm(this.#home, { recursive: true, force: true });
  }

  async #boot(requireClientCertificate: boolean): Promise<void> {
    const certs = this.certificates;
    const data = join(this.#home, 'node');
    await rm(data, { recursive: true, force: true });
    await mkdir(join(data, 'mnesia'), { recursive: true });
    await mkdir(join(data, 'log'), { recursive: true });
    const config = join(data, 'rabbitmq.conf');
    await writeFile(
      config,
      [
        'listeners.tcp.default = 127.0.0.1:5695',
        `listeners.ssl.default = 127.0.0.1:${this.port}`,
        `ssl_options.cacertfile = ${certs.ca}`,
        `ssl_options.certfile = ${certs.serverCert}`,
        `ssl_options.keyfile = ${certs.serverKey}`,
        'ssl_options.verify = verify_peer',
        `ssl_options.fail_if_no_peer_cert = ${requireClientCertificate}`,
        'loopback_users.guest = true',
        '',
      ].join('\n'),
    );
    await writeFile(join(data, 'enabled_plugins'), '[].\n');
    await chownTree(this.#home);
    await run('rabbitmq-server', ['-detached'], {
      timeout: 30_000,
      env: {
        ...process.env,
        RABBITMQ_NODENAME: nodeName,
        RABBITMQ_NODE_PORT: '5695',
        RABBITMQ_DIST_PORT: '25695',
        RABBITMQ_CONFIG_FILE: config,
        RABBITMQ_ENABLED_PLUGINS_FILE: join(data, 'enabled_plugins'),
        RABBITMQ_MNESIA_BASE: join(data, 'mnesia'),
        RABBITMQ_LOG_BASE: join(data, 'log'),
        RABBITMQ_PID_FILE: join(data, 'pid'),
      },
    });
    // await_startup needs the node's VM to answer first; -detached returns before it does.
    for (let i = 0; i < 60 && !(await ping()); i++) await sleep(1000);
    await ctl(['await_startup', '--timeout', '90'], 100_000);
  }
}

function ctl(args: string[], timeout = 30_000) {
  return run('rabbitmqctl', ['-q', '-n', nodeName, ...args], { timeout });
}

async function ping(): Promise<boolean> {
  try {
    await ctl(['ping'], 10_000);
    return true;
  } catch {
    return false;
  }
}

async function stopNode(): Promise<void> {
  await ctl(['stop'], 60_000).catch(() => {});
  for (let i = 0; i < 30 && (await ping()); i++) await sleep(1000);
}

/** The node runs as the rabbitmq user: the files it reads (and mkdtemp's 0700 directory) must be its. */
async function chownTree(dir: string): Promise<void> {
  await run('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
}
