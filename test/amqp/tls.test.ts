import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTlsFiles } from '../../src/amqp/tls.js';
import { connectOptions, describeTlsFailure, parseAmqpUrl, tlsSocketOptions } from '../../src/amqp/url.js';
import { isWarrenError } from '../../src/errors.js';
import { makeCertificates, type TestCertificates } from '../helpers/tls-node.js';

function tlsError(code: string, message: string, reason?: string): Error {
  return Object.assign(new Error(message), { code }, reason ? { reason } : {});
}

describe('TLS socket options', () => {
  const files = { ca: Buffer.from('CA PEM'), cert: Buffer.from('CERT PEM'), key: Buffer.from('KEY PEM') };

  it('gives amqp:// nothing, even with the files set: a plain connection stays plain', () => {
    expect(tlsSocketOptions(parseAmqpUrl('amqp://u:p@broker'), files)).toEqual({});
  });

  it('gives amqps:// without files nothing either: Node then trusts its system CAs', () => {
    const url = parseAmqpUrl('amqps://u:p@broker.example');
    expect(tlsSocketOptions(url, {})).toEqual({});
    expect(connectOptions(url)).toMatchObject({ protocol: 'amqps', hostname: 'broker.example' });
    expect(connectOptions(url).port).toBeUndefined(); // amqplib's default for amqps: 5671
  });

  it('adds WARREN_AMQP_CA to the system CAs, and passes the client certificate and key', () => {
    const options = tlsSocketOptions(parseAmqpUrl('amqps://u:p@broker:5671'), files);
    expect(options.ca).toEqual([...rootCertificates, 'CA PEM']);
    expect(options.cert).toBe(files.cert);
    expect(options.key).toBe(files.key);
  });
});

describe('describeTlsFailure', () => {
  const at = (text: string) => parseAmqpUrl(text);

  it('names host, port and reason, and the variable that fixes an untrusted certificate', () => {
    const err = tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain');
    expect(describeTlsFailure(err, at('amqps://u:p@127.0.0.1'))).toBe(
      'TLS: certificate of 127.0.0.1:5671 not trusted: self-signed certificate in certificate chain (set WARREN_AMQP_CA)',
    );
    expect(describeTlsFailure(err, at('amqps://u:p@[::1]:5676'))).toContain('certificate of [::1]:5676');
  });

  it("keeps OpenSSL's short reason, not its addresses and source lines", () => {
    const err = tlsError(
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      '80BCE289637F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n',
      'tlsv13 alert certificate required',
    );
    expect(describeTlsFailure(err, at('amqps://b:5671'))).toBe(
      'TLS: b:5671 requires a client certificate: tlsv13 alert certificate required (set WARREN_AMQP_CERT and WARREN_AMQP_KEY)',
    );
  });

  it('says what each kind of failure is', () => {
    const url = at('amqps://b:5671');
    const said = (code: string, message = 'm') => describeTlsFailure(tlsError(code, message), url);
    expect(said('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toMatch(/not trusted: m \(set WARREN_AMQP_CA\)$/);
    expect(said('CERT_HAS_EXPIRED')).toBe('TLS: certificate of b:5671 not valid now: m');
    expect(said('ERR_TLS_CERT_ALTNAME_INVALID')).toMatch(
      /^TLS: certificate of b:5671 is not for this host: m/,
    );
    expect(said('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')).toMatch(/^TLS: b:5671 refused the handshake: m/);
    expect(said('ERR_SSL_WRONG_VERSION_NUMBER')).toMatch(
      /does not speak TLS: m \(is it a plain amqp:\/\/ port\?\)$/,
    );
    expect(said('ERR_SSL_NO_CIPHERS_AVAILABLE')).toBe('TLS: handshake with b:5671 failed: m');
  });

  it('is silent for what is not TLS: a refused port, a plain amqp:// URL, a thrown non-error', () => {
    expect(
      describeTlsFailure(tlsError('ECONNREFUSED', 'connect ECONNREFUSED'), at('amqps://b')),
    ).toBeUndefined();
    expect(describeTlsFailure(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'x'), at('amqp://b'))).toBeUndefined();
    expect(describeTlsFailure('SELF_SIGNED_CERT_IN_CHAIN', at('amqps://b'))).toBeUndefined();
    expect(describeTlsFailure(undefined, at('amqps://b'))).toBeUndefined();
  });
});

describe('readTlsFiles', () => {
  let certs: TestCertificates;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-tls-unit-'));
    certs = await makeCertificates(dir);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function failure(env: NodeJS.ProcessEnv): string {
    try {
      readTlsFiles(env);
    } catch (err) {
      expect(isWarrenError(err, 'WARREN_E_TLS_FILE')).toBe(true);
      return (err as Error).message;
    }
    throw new Error('readTlsFiles did not fail');
  }

  it('reads nothing when no variable is set (or one is blank)', () => {
    expect(readTlsFiles({})).toEqual({});
    expect(readTlsFiles({ WARREN_AMQP_CA: '  ' })).toEqual({});
  });

  it('reads the CA, the certificate and the key', async () => {
    const files = readTlsFiles({
      WARREN_AMQP_CA: certs.ca,
      WARREN_AMQP_CERT: certs.clientCert,
      WARREN_AMQP_KEY: certs.clientKey,
    });
    expect(files.ca).toEqual(await readFile(certs.ca));
    expect(files.cert).toEqual(await readFile(certs.clientCert));
    expect(files.key).toEqual(await readFile(certs.clientKey));
  });

  it('names the variable and the path of a file it cannot read', async () => {
    const missing = join(dir, 'missing.pem');
    expect(failure({ WARREN_AMQP_CA: missing })).toBe(
      `WARREN_AMQP_CA: cannot read ${missing}: not found (or a symbolic link to a missing file)`,
    );
    const folder = join(dir, 'a-directory');
    await mkdir(folder);
    expect(failure({ WARREN_AMQP_KEY: folder, WARREN_AMQP_CERT: certs.clientCert })).toBe(
      `WARREN_AMQP_KEY: cannot read ${folder}: is a directory, not a file`,
    );
  });

  it('refuses a FIFO at once (nobody writing would hold the start for ever) and a file over 1 MiB', async () => {
    const fifo = join(dir, 'ca.fifo');
    execFileSync('mkfifo', [fifo]);
    expect(failure({ WARREN_AMQP_CA: fifo })).toBe(
      `WARREN_AMQP_CA: cannot read ${fifo}: is a named pipe (FIFO), not a regular file`,
    );
    const huge = join(dir, 'huge.pem');
    await writeFile(huge, 'x'.repeat(1024 * 1024 + 1));
    expect(failure({ WARREN_AMQP_CA: huge })).toMatch(
      /^WARREN_AMQP_CA: cannot read .*huge\.pem: is 1,048,577 bytes, over the limit/,
    );
  });

  it('refuses a CA file with no certificate, a certificate without its key, and a foreign key — never quoting a key', async () => {
    expect(failure({ WARREN_AMQP_CA: certs.clientKey })).toBe(
      `WARREN_AMQP_CA: ${certs.clientKey} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
    expect(failure({ WARREN_AMQP_CERT: certs.clientCert })).toBe(
      'WARREN_AMQP_CERT is set but WARREN_AMQP_KEY is not: a client certificate needs both',
    );
    expect(failure({ WARREN_AMQP_KEY: certs.clientKey })).toBe(
      'WARREN_AMQP_KEY is set but WARREN_AMQP_CERT is not: a client certificate needs both',
    );
    const foreign = failure({ WARREN_AMQP_CERT: certs.clientCert, WARREN_AMQP_KEY: certs.serverKey });
    expect(foreign).toContain(
      `WARREN_AMQP_CERT (${certs.clientCert}) and WARREN_AMQP_KEY (${certs.serverKey})`,
    );
    expect(foreign).toContain('not a usable pair');
    const keyBody = (await readFile(certs.serverKey, 'utf8')).split('\n')[1]!;
    expect(foreign).not.toContain(keyBody);
    const garbage = join(dir, 'garbage.key');
    await writeFile(garbage, 'not a key at all');
    expect(failure({ WARREN_AMQP_CERT: certs.clientCert, WARREN_AMQP_KEY: garbage })).not.toContain(
      'not a key at all',
    );
  });

  it("describes Node's real error for a server its CA list does not vouch for", async () => {
    const server = createServer({
      cert: await readFile(certs.serverCert),
      key: await readFile(certs.serverKey),
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const url = parseAmqpUrl(`amqps://u:p@localhost:${port}`);
      const options = tlsSocketOptions(url, readTlsFiles({ WARREN_AMQP_CA: certs.otherCa }));
      const socket = connect({ ...options, host: '127.0.0.1', port, servername: 'localhost' });
      const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error];
      socket.destroy();
      expect(describeTlsFailure(err, url)).toMatch(
        new RegExp(`^TLS: certificate of localhost:${port} not trusted: .+ \\(set WARREN_AMQP_CA\\)$`),
      );
    } finally {
      server.close();
    }
  });
});
