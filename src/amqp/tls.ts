import { createSecureContext } from 'node:tls';
import { maxInterpolatedFileBytes, readRegularFileSync } from '../config/read.js';
import { WarrenError } from '../errors.js';
import type { TlsFiles } from './url.js';

const variables = { ca: 'WARREN_AMQP_CA', cert: 'WARREN_AMQP_CERT', key: 'WARREN_AMQP_KEY' } as const;

function fail(message: string, cause?: unknown): WarrenError {
  return new WarrenError('WARREN_E_TLS_FILE', message, cause === undefined ? undefined : { cause });
}

/**
 * Reads the files `WARREN_AMQP_CA`, `WARREN_AMQP_CERT` and `WARREN_AMQP_KEY` name, once, at start.
 * Whatever is wrong with them stops Warren there, naming the variable and the path, rather than
 * failing every reconnect with a vaguer TLS error: a file missing or unreadable, a CA file with no
 * PEM certificate, a certificate without its key (or the reverse) or a key that is not the
 * certificate's. An error never quotes a file's content (it may be a key).
 */
export function readTlsFiles(env: NodeJS.ProcessEnv): TlsFiles {
  const files: TlsFiles = {};
  const paths: Partial<Record<keyof TlsFiles, string>> = {};
  for (const [field, variable] of Object.entries(variables) as Array<[keyof TlsFiles, string]>) {
    const path = env[variable]?.trim();
    if (!path) continue;
    paths[field] = path;
    // A regular file of at most 1 MiB: a FIFO or a device named by mistake must not hold the start.
    const read = readRegularFileSync(path, { maxBytes: maxInterpolatedFileBytes });
    if ('error' in read) throw fail(`${variable}: cannot read ${path}: ${read.error}`);
    files[field] = Buffer.from(read.text, 'utf8');
  }
  if (files.ca && !files.ca.includes('-----BEGIN CERTIFICATE-----'))
    throw fail(`${variables.ca}: ${paths.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (Boolean(files.cert) !== Boolean(files.key)) {
    const [given, missing] = files.cert ? [variables.cert, variables.key] : [variables.key, variables.cert];
    throw fail(`${given} is set but ${missing} is not: a client certificate needs both`);
  }
  if (files.cert) {
    try {
      createSecureContext({ cert: files.cert, key: files.key });
    } catch (err) {
      throw fail(
        `${variables.cert} (${paths.cert}) and ${variables.key} (${paths.key}) are not a usable pair: ${(err as Error).message}`,
        err,
      );
    }
  }
  return files;
}
