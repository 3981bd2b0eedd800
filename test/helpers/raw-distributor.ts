import type { Feedback, JobSpec } from '../../src/model/job.ts';
import type { HelloMessage, Message } from '../../src/protocol/messages.ts';
import type { Connection } from '../../src/transport/connection.ts';
import { acceptHandshake } from '../../src/transport/handshake.ts';
import { listenTcp, type TcpListener } from '../../src/transport/tcp-endpoints.ts';

/**
 * A distributor made of the project's transport pieces only (listener + handshake), for
 * playing a hostile but authenticated peer: it sends whatever job frames a test writes,
 * records what the node answers, and acknowledges feedbacks only if told to.
 */
export interface RawDistributor {
  readonly id: string;
  readonly port: number;
  /** Every message from the node after the handshake, in order. */
  readonly messages: Message[];
  readonly feedbacks: Feedback[];
  /** The node's hello, once a node is connected. */
  hello(): HelloMessage | undefined;
  connected(): boolean;
  /** Sends a job frame as is (no checks on this side). */
  sendJob(spec: JobSpec): void;
  send(message: Message): void;
  close(): Promise<void>;
}

export async function startRawDistributor(opts: {
  id: string;
  secret?: string;
  /** Answer every feedback with `fback`. @default true */
  ack?: boolean;
}): Promise<RawDistributor> {
  const messages: Message[] = [];
  const feedbacks: Feedback[] = [];
  let conn: Connection | undefined;
  let hello: HelloMessage | undefined;
  const listener: TcpListener = await listenTcp('127.0.0.1', 0, (c) => {
    void acceptHandshake(c, {
      distributorId: opts.id,
      ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
    }).then(
      (h) => {
        hello = h;
        conn = c;
        c.onMessage((m) => {
          messages.push(m);
          if (m.t === 'feedbacks') {
            // As a distributor's session does: the link knows who sent them, and to whom.
            for (const fb of m.fbs) {
              fb.node = h.node;
              fb.distributor = opts.id;
              feedbacks.push(fb);
            }
            if (opts.ack !== false) c.send({ t: 'fback', keys: m.fbs.map((fb) => fb.key) });
          }
        });
        c.onClose(() => {
          if (conn === c) conn = undefined;
        });
      },
      () => {},
    );
  });
  return {
    id: opts.id,
    port: listener.address.port,
    messages,
    feedbacks,
    hello: () => hello,
    connected: () => conn !== undefined && !conn.closed,
    sendJob: (spec) => conn?.send({ t: 'jobs', jobs: [spec] }),
    send: (m) => conn?.send(m),
    close: () => listener.close(),
  };
}

/** A job spec as a distributor would send it; `extra` overrides any field. */
export function rawSpec(
  id: string,
  name: string,
  distributor: string,
  extra: Partial<JobSpec> = {},
): JobSpec {
  const now = Date.now();
  return { id, name, args: {}, distributor, enqueuedAt: now, runAt: now, delivery: 1, ...extra };
}
