import { ClosedError, DuplicateNodeError, JobReactorError } from '../errors.ts';
import type { HelloMessage } from '../protocol/messages.ts';
import type { Connection } from '../transport/connection.ts';
import { acceptHandshake } from '../transport/handshake.ts';
import type { NodeSession } from './node-session.ts';

export interface AdmissionOptions {
  secret: string | undefined;
  distributorId: string;
  timeoutMs: number;
  /** The nodes connected now (a second live node with the same name is refused). */
  sessions: readonly NodeSession[];
  /** Told why a connection was refused (already closed by then, or closing). */
  rejected(remote: string, error: JobReactorError): void;
}

/**
 * Runs the handshake on a new connection and checks the node's name. Resolves to the
 * node's hello, or undefined when the connection was refused (wrong secret, silence,
 * a name already in use) or closed meanwhile. Never rejects.
 */
export async function admitNode(
  conn: Connection,
  opts: AdmissionOptions,
): Promise<HelloMessage | undefined> {
  let hello: HelloMessage;
  try {
    hello = await acceptHandshake(conn, {
      ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
      distributorId: opts.distributorId,
      timeoutMs: opts.timeoutMs,
    });
  } catch (err) {
    const error =
      err instanceof JobReactorError ? err : new ClosedError('handshake failed', { cause: err });
    opts.rejected(conn.remote, error);
    return undefined;
  }
  if (conn.closed) return undefined;
  if (opts.sessions.some((s) => s.name === hello.node && !s.closed)) {
    // Two live nodes under one name would share routing and storage keys. The newcomer
    // waits (it redials) until the old link is gone, e.g. found dead by its heartbeat.
    const error = new DuplicateNodeError(`a node named '${hello.node}' is already connected`);
    opts.rejected(conn.remote, error);
    conn.close(error);
    return undefined;
  }
  return hello;
}
