import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { WarrenError } from '../errors.js';

/** Why a listen failed, in words an operator acts on; the errno code is kept in the message. */
const reasons: Record<string, string> = {
  EADDRINUSE: 'the port is already in use (another Warren?); pick another with --admin-port',
  EACCES: 'not permitted (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'the host is not an address of this machine; see --admin-host',
  ENOTFOUND: 'the host name does not resolve; see --admin-host',
};

/**
 * Serves the admin app on host:port and resolves once the socket is bound, with the address it is
 * bound to; rejects with WARREN_E_ADMIN_LISTEN (never an unhandled 'error' event) when it cannot.
 * Nothing may say "admin on :PORT" before this resolves.
 */
export function listenAdmin(
  app: Hono,
  host: string,
  port: number,
): Promise<{ server: ServerType; address: AddressInfo }> {
  const server = createAdaptorServer({ fetch: app.fetch });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const reason = reasons[err.code ?? ''] ?? err.message;
      reject(
        new WarrenError(
          'WARREN_E_ADMIN_LISTEN',
          `cannot serve the admin API on ${host}:${port}: ${reason} (${err.code ?? 'error'})`,
          { cause: err },
        ),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve({ server, address: server.address() as AddressInfo });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
