import type { DistributorLink } from './distributor-link.ts';

interface Batch {
  accepted: string[];
  credit: number;
  stopped: string[] | undefined;
  attempts: number[] | undefined;
}

/**
 * Collects the "accepted" ids, returned credits and run notes of one event-loop turn per link, and
 * sends each as one frame in a microtask: a burst of 1,000 jobs costs two frames back, not
 * 2,000.
 */
export class LinkBatcher {
  readonly #batches = new Map<DistributorLink, Batch>();

  accepted(link: DistributorLink, id: string): void {
    this.#batch(link).accepted.push(id);
  }

  credit(link: DistributorLink, n = 1): void {
    this.#batch(link).credit += n;
  }

  /** An attempt ended without a feedback (a retry waits). */
  stopped(link: DistributorLink, id: string, attempts: number): void {
    const b = this.#batch(link);
    (b.stopped ??= []).push(id);
    (b.attempts ??= []).push(attempts);
  }

  forget(link: DistributorLink): void {
    this.#batches.delete(link);
  }

  #batch(link: DistributorLink): Batch {
    let b = this.#batches.get(link);
    if (!b) {
      b = { accepted: [], credit: 0, stopped: undefined, attempts: undefined };
      this.#batches.set(link, b);
      queueMicrotask(() => {
        const batch = this.#batches.get(link);
        this.#batches.delete(link);
        if (!batch) return;
        if (batch.accepted.length > 0) link.send({ t: 'accepted', ids: batch.accepted });
        if (batch.credit > 0) link.send({ t: 'credit', n: batch.credit });
        // (Starts are told at once, not batched: see WorkerNode#runOne.)
        if (batch.stopped) {
          link.send({
            t: 'runs',
            started: [],
            stopped: batch.stopped,
            attempts: batch.attempts ?? [],
          });
        }
      });
    }
    return b;
  }
}
