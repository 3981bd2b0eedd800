import { createServer, type Server } from 'node:http';
import { isLoopbackHost } from '../distributor/distributor-options.ts';
import { InvalidArgumentError } from '../errors.ts';
import { assertKnownOptions, type OptionKeys } from '../model/known-options.ts';
import type { AdminHandler } from './admin-handler.ts';

/** The distributor's `http` option: the admin API and dashboard on a port of their own. */
export interface AdminHttpOptions {
  /** Port to listen on; 0 picks a free one (see `distributor.httpAddress`). @default 0 */
  port?: number;
  /** Address to listen on; beyond loopback a `token` is required. @default '127.0.0.1' */
  host?: string;
  /** Bearer token of the API (see `httpHandler`). Required on a non-loopback host. @default none */
  token?: string;
}

export const ADMIN_HTTP_DEFAULTS = { port: 0, host: '127.0.0.1' } as const;

const ADMIN_HTTP_KEYS = {
  port: true,
  host: true,
  token: true,
} as const satisfies OptionKeys<AdminHttpOptions>;

/** Request limits of the admin server: a slow or idle client holds a socket for seconds only. */
const LIMITS = { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000 };
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_CONNECTIONS = 64;

/** Checks the `http` option (at construction: a bad one fails before anything listens). */
export function assertAdminHttpOptions(options: AdminHttpOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('http must be an object ({ port?, host?, token? })');
  }
  assertKnownOptions(options, ADMIN_HTTP_KEYS, 'http');
  const host = options.host ?? ADMIN_HTTP_DEFAULTS.host;
  if (options.token === undefined && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(
      `refusing to serve the admin API on ${host} without a token: anyone who reaches it could cancel and retry jobs. Set http.token`,
    );
  }
}

/** A listening admin server. */
export interface AdminServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export function listenAdmin(
  handler: AdminHandler,
  options: AdminHttpOptions,
): Promise<AdminServer> {
  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
  Object.assign(server, LIMITS);
  server.maxConnections = MAX_CONNECTIONS;
  // A client that breaks the HTTP framing gets its socket closed, nothing else.
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(
      options.port ?? ADMIN_HTTP_DEFAULTS.port,
      options.host ?? ADMIN_HTTP_DEFAULTS.host,
      () => {
        server.off('error', reject);
        const a = server.address();
        if (a === null || typeof a === 'string')
          throw new Error('unreachable: a TCP server has an address');
        resolve({
          address: { host: a.address, port: a.port },
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              server.closeAllConnections();
            }),
        });
      },
    );
  });
}
