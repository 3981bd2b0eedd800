import net from 'node:net';
import tls from 'node:tls';
import {
  ConnectionError,
  HandshakeTimeoutError,
  InvalidArgumentError,
  JobReactorError,
  TlsUntrustedError,
} from '../errors.ts';
import { systemClock } from '../model/clock.ts';
import { plainOnTlsLink, socketError } from './socket-errors.ts';
import { resolveOptions, TcpConnection, type TcpConnectionOptions } from './tcp-connection.ts';
import { TLS_MIN_VERSION, type ClientTls, type ServerTls } from './tls-options.ts';

// Dialing and listening: the two ways a TcpConnection comes to be.

export interface ConnectTcpOptions extends TcpConnectionOptions {
  /** Dial deadline (TCP connect and, with `tls`, the TLS handshake), ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Speak TLS, verifying the distributor's certificate. @default plain TCP */
  tls?: ClientTls | undefined;
}

/**
 * Dials a distributor. Rejects with `ConnectionError` when refused, unreachable or too
 * slow; with `tls`, with `TlsUntrustedError` (certificate refused, by us or by it) or
 * `TlsMismatchError` (it does not speak TLS).
 */
export function connectTcp(
  host: string,
  port: number,
  opts: ConnectTcpOptions = {},
): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    resolveOptions(opts); // bad options fail before any socket exists
    const clock = opts.clock ?? systemClock;
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const secure = opts.tls;
    const socket =
      secure === undefined
        ? net.connect({ host, port })
        : tls.connect({
            host,
            port,
            secureContext: secure.context,
            minVersion: TLS_MIN_VERSION,
            ...(secure.servername !== undefined ? { servername: secure.servername } : {}),
          });
    const timer = clock.setTimer(() => {
      socket.destroy();
      reject(new ConnectionError(`connecting to ${host}:${port} took over ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clock.clearTimer(timer);
      const error = socketError(err, `${host}:${port}`, secure !== undefined);
      reject(
        error instanceof ConnectionError
          ? new ConnectionError(
              `cannot connect to ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
              { cause: err },
            )
          : error,
      );
    };
    socket.once('error', onError);
    socket.once(secure === undefined ? 'connect' : 'secureConnect', () => {
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
   * Connections open at once, authenticated or not (with TLS, counting those still in
   * their TLS handshake); one more is closed as it arrives, so a flood of sockets cannot
   * exhaust the process's file descriptors.
   * @default 1024
   */
  maxConnections?: number;
  /**
   * Told about each connection refused before `onConnection` saw it: over
   * `maxConnections`, and with `tls`, a plain or silent peer, a failed TLS handshake, an
   * untrusted client certificate.
   */
  onDrop?: (remote: string, error: JobReactorError) => void;
  /** Require TLS of every peer. @default plain TCP */
  tls?: ServerTls | undefined;
  /** With `tls`: deadline for a peer's first byte, and then for its TLS handshake, ms. @default 2000 */
  tlsHandshakeTimeoutMs?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * Accepts connections (port 0 picks a free port). `onConnection` runs synchronously for each
 * one; if it throws, that connection is closed. Rejects with `ConnectionError` when the
 * address cannot be bound.
 *
 * With `tls`, each socket's first byte decides: a TLS record goes to the TLS handshake
 * (then, with a required client certificate, the certificate is checked), anything else
 * is a plain peer, answered in clear with a TlsMismatchError frame so that it can say why
 * it was refused; TLS alone would close on it without a word.
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
  const clock = opts.clock ?? systemClock;
  const live = new Set<TcpConnection>();
  const drop = (remote: string, error: JobReactorError) => listen.onDrop?.(remote, error);

  /** A socket ready for framing becomes a connection; `refusal` closes it at once, with a word. */
  const adopt = (socket: net.Socket, refusal?: JobReactorError): void => {
    let conn: TcpConnection;
    try {
      conn = new TcpConnection(socket, opts);
    } catch {
      socket.destroy();
      return;
    }
    live.add(conn);
    conn.onClose(() => live.delete(conn));
    if (refusal !== undefined) {
      conn.close(refusal);
      drop(conn.remote, refusal);
      return;
    }
    try {
      onConnection(conn);
    } catch (err) {
      conn.close(err instanceof JobReactorError ? err : undefined);
    }
  };

  const secure = listen.tls;
  const tlsTimeoutMs = listen.tlsHandshakeTimeoutMs ?? 2000;
  // Sockets that are not connections yet (waiting for a first byte, or in the TLS
  // handshake), by remote address: close() must end them, and TLS hands back a new object.
  const opening = new Map<string, net.Socket>();
  const tlsServer = secure === undefined ? undefined : createTlsServer(secure, tlsTimeoutMs);
  tlsServer?.on('secureConnection', (socket: tls.TLSSocket) => {
    opening.delete(remoteOf(socket));
    adopt(socket, secure!.requireClientCert ? untrusted(socket) : undefined);
  });
  tlsServer?.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const remote = remoteOf(socket);
    opening.delete(remote);
    socket.destroy(); // not done for us after a handshake timeout
    drop(remote, socketError(err, remote, true));
  });

  const server = net.createServer((socket) => {
    if (tlsServer === undefined) {
      adopt(socket);
      return;
    }
    const remote = remoteOf(socket);
    opening.set(remote, socket);
    const silence = clock.setTimer(() => {
      socket.destroy();
      drop(
        remote,
        new HandshakeTimeoutError(`no TLS hello from ${remote} within ${tlsTimeoutMs} ms`),
      );
    }, tlsTimeoutMs);
    socket.once('close', () => {
      clock.clearTimer(silence);
      if (opening.get(remote) === socket) opening.delete(remote);
    });
    socket.once('error', () => {}); // a reset before the first byte is only a close
    socket.once('data', (first: Buffer) => {
      clock.clearTimer(silence);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE_RECORD) {
        tlsServer.emit('connection', socket);
        return;
      }
      opening.delete(remote);
      adopt(socket, plainOnTlsLink(remote));
      socket.resume(); // read (and drop) the rest, so the peer's FIN is seen
    });
  });
  server.maxConnections = max;
  server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
    const remote = formatRemote(data?.remoteAddress, data?.remotePort);
    drop(
      remote,
      new ConnectionError(`too many connections: over maxConnections, ${remote} was closed`),
    );
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
            for (const socket of opening.values()) socket.destroy();
            opening.clear();
            for (const conn of live) conn.close();
          }),
      });
    });
  });
}

/** A TLS record of type handshake: how every TLS client opens (ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

function createTlsServer(secure: ServerTls, handshakeTimeout: number): tls.Server {
  return tls.createServer({
    ...secure.material,
    minVersion: TLS_MIN_VERSION,
    requestCert: secure.requireClientCert,
    // Checked in 'secureConnection' instead: Node would drop an untrusted client without a
    // word, and the node could not tell a refused certificate from a network failure.
    rejectUnauthorized: false,
    handshakeTimeout,
  });
}

/** Why a client certificate is refused, or undefined when it is trusted. */
function untrusted(socket: tls.TLSSocket): TlsUntrustedError | undefined {
  if (socket.authorized) return undefined;
  const remote = remoteOf(socket);
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) {
    return new TlsUntrustedError(
      `${remote} presented no client certificate, and this distributor requires one (its tls.ca is set): set tls.cert and tls.key on the node`,
    );
  }
  return new TlsUntrustedError(
    `the client certificate of ${remote} is not trusted: ${String(socket.authorizationError)}`,
  );
}

function remoteOf(socket: net.Socket): string {
  return formatRemote(socket.remoteAddress, socket.remotePort);
}

function formatRemote(host: string | undefined, port: number | undefined): string {
  const h = host ?? 'unknown';
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? 0}`;
}
