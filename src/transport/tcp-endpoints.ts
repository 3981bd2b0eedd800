import net from 'node:net';
import { ConnectionError, InvalidArgumentError, JobReactorError } from '../errors.ts';
import { systemClock } from '../model/clock.ts';
import { resolveOptions, TcpConnection, type TcpConnectionOptions } from './tcp-connection.ts';

// Dialing and listening: the two ways a TcpConnection comes to be.

export interface ConnectTcpOptions extends TcpConnectionOptions {
  /** Dial deadline, ms. @default 10000 */
  connectTimeoutMs?: number;
}

/** Dials a distributor. Rejects with `ConnectionError` when refused, unreachable or too slow. */
export function connectTcp(
  host: string,
  port: number,
  opts: ConnectTcpOptions = {},
): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    resolveOptions(opts); // bad options fail before any socket exists
    const clock = opts.clock ?? systemClock;
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const socket = net.connect({ host, port });
    const timer = clock.setTimer(() => {
      socket.destroy();
      reject(new ConnectionError(`connecting to ${host}:${port} took over ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clock.clearTimer(timer);
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        new ConnectionError(`cannot connect to ${host}:${port}: ${code ?? err.message}`, {
          cause: err,
        }),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clock.clearTimer(timer);
      socket.off('error', onError);
      try {
        resolve(new TcpConnection(socket, opts));
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    });
  });
}

export interface TcpListener {
  address: { host: string; port: number };
  /** Stops accepting, closes every live connection it accepted, resolves when all are gone. */
  close(): Promise<void>;
}

/** Options of {@link listenTcp} about the listener itself. */
export interface ListenOptions {
  /**
   * Connections open at once, authenticated or not; one more is closed as it arrives, so a
   * flood of sockets cannot exhaust the process's file descriptors.
   * @default 1024
   */
  maxConnections?: number;
  /** Told about each connection closed for being over `maxConnections`. */
  onDrop?: (remote: string) => void;
}

export const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * Accepts connections (port 0 picks a free port). `onConnection` runs synchronously for each
 * one; if it throws, that connection is closed. Rejects with `ConnectionError` when the
 * address cannot be bound.
 */
export function listenTcp(
  host: string,
  port: number,
  onConnection: (connection: TcpConnection) => void,
  opts: TcpConnectionOptions = {},
  listen: ListenOptions = {},
): Promise<TcpListener> {
  resolveOptions(opts);
  const max = listen.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(max) || max < 1) {
    throw new InvalidArgumentError(`maxConnections must be a whole number ≥ 1 (got ${max})`);
  }
  const live = new Set<TcpConnection>();
  const server = net.createServer((socket) => {
    if (live.size >= max) {
      const host = socket.remoteAddress ?? 'unknown';
      socket.destroy();
      listen.onDrop?.(`${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`);
      return;
    }
    let conn: TcpConnection;
    try {
      conn = new TcpConnection(socket, opts);
    } catch {
      socket.destroy();
      return;
    }
    live.add(conn);
    conn.onClose(() => live.delete(conn));
    try {
      onConnection(conn);
    } catch (err) {
      conn.close(err instanceof JobReactorError ? err : undefined);
    }
  });
  return new Promise((resolve, reject) => {
    const onListenError = (err: Error): void => {
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        new ConnectionError(`cannot listen on ${host}:${port}: ${code ?? err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onListenError);
    server.listen(port, host, () => {
      server.off('error', onListenError);
      // Accept-time errors (EMFILE…) must not crash the process; the server keeps going.
      server.on('error', () => {});
      const addr = server.address() as net.AddressInfo;
      resolve({
        address: { host: addr.address, port: addr.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const conn of live) conn.close();
          }),
      });
    });
  });
}
