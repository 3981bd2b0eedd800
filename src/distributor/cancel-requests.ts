import type { NodeSession } from './node-session.ts';
import { TrackState, type TrackedJob } from './tracked-job.ts';

interface Pending {
  session: NodeSession;
  job: TrackedJob;
  resolve: (ok: boolean) => void;
}

/**
 * Cancels sent to nodes and waiting for their answer, and cancels parked for a durable
 * node that is offline (it keeps its jobs across a restart; the cancel goes out when a
 * node of that name connects again).
 */
export class CancelRequests {
  readonly #sent = new Map<number, Pending>();
  #parked: { node: string; job: TrackedJob; resolve: (ok: boolean) => void }[] = [];
  #seq = 0;

  send(session: NodeSession, job: TrackedJob): Promise<boolean> {
    const req = ++this.#seq;
    return new Promise<boolean>((resolve) => {
      this.#sent.set(req, { session, job, resolve });
      session.send({ t: 'cancel', id: job.spec.id, req });
    });
  }

  park(node: string, job: TrackedJob): Promise<boolean> {
    return new Promise<boolean>((resolve) => this.#parked.push({ node, job, resolve }));
  }

  /** The node answered cancel request `req`. */
  answered(req: number, ok: boolean): void {
    this.#sent.get(req)?.resolve(ok);
    this.#sent.delete(req);
  }

  /** A node connected: send it the cancels parked for its name. */
  connected(session: NodeSession): void {
    const mine = this.#parked.filter((c) => c.node === session.name);
    if (mine.length === 0) return;
    this.#parked = this.#parked.filter((c) => c.node !== session.name);
    for (const c of mine) void this.send(session, c.job).then(c.resolve);
  }

  /** A node's link closed: its unanswered cancels succeeded only if the job ended anyway. */
  closed(session: NodeSession): void {
    for (const [req, c] of this.#sent) {
      if (c.session !== session) continue;
      c.resolve(c.job.state === TrackState.Done);
      this.#sent.delete(req);
    }
  }

  /** The distributor closes: nothing more will be answered. */
  clear(): void {
    for (const c of this.#sent.values()) c.resolve(false);
    this.#sent.clear();
    for (const c of this.#parked.splice(0)) c.resolve(false);
  }
}
