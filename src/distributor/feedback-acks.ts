import type { NodeSession } from './node-session.ts';

/** Acknowledges processed feedbacks: one `fback` frame per node per read, not one per feedback. */
export class FeedbackAcks {
  readonly #pending = new Map<NodeSession, string[]>();

  add(session: NodeSession, key: string): void {
    let keys = this.#pending.get(session);
    if (!keys) {
      keys = [];
      this.#pending.set(session, keys);
      queueMicrotask(() => {
        const batch = this.#pending.get(session);
        this.#pending.delete(session);
        if (batch && !session.closed) session.send({ t: 'fback', keys: batch });
      });
    }
    keys.push(key);
  }

  forget(session: NodeSession): void {
    this.#pending.delete(session);
  }
}
