import { ClosedError, DuplicateNodeError, JobReactorError } from '../errors.ts';
import type { HelloMessage } from '../protocol/messages.ts';
import type { Connection } from '../transport/connection.ts';
import { acceptHandshake } from '../transport/handshake.ts';
import type { NodeSession } from './node-session.ts';

export interface AdmissionOptions {
  secret: string | undefined;
  distributorId: string;
  timeoutMs: number;
  /** This distributor's frame limit, announced to the node. */
  maxFrameSize: number;
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
  const taken = (name: string) => opts.sessions.some((s) => s.name === name && !s.closed);
  let hello: HelloMessage;
  try {
    hello = await acceptHandshake(conn, {
      ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
      distributorId: opts.distributorId,
      timeoutMs: opts.timeoutMs,
      maxFrameSize: opts.maxFrameSize,
      // Refused inside the handshake, so the newcomer's handshake fails with this error
      // (it logs it and redials) instead of seeming to connect and being cut at once.
      admit: (h) => (taken(h.node) ? duplicate(h.node) : undefined),
    });
  } catch (err) {
    const error =
      err instanceof JobReactorError ? err : new ClosedError('handshake failed', { cause: err });
    opts.rejected(conn.remote, error);
    return undefined;
  }
  if (conn.closed) return undefined;
  if (taken(hello.node)) {
    // Two live nodes under one name would share routing and storage keys. The newcomer
    // waits (it redials) until the old link is gone, e.g. found dead by its heartbeat.
    // (Checked again here: two handshakes of one name may end in the same turn.)
    const error = duplicate(hello.node);
    opts.rejected(conn.remote, error);
    conn.close(error);
    return undefined;
  }
  return hello;
}

function duplicate(name: string): DuplicateNodeError {
  return new DuplicateNodeError(
    `a node named '${name}' is already connected to this distributor; this one is refused until it leaves`,
  );
}
