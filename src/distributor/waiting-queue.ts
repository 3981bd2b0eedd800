import type { TrackedJob } from './tracked-job.ts';

/**
 * Jobs with no eligible node yet, in arrival order. Bounded for new jobs (enqueue fails
 * past `limit`); jobs coming back from a lost node are always taken, since they were
 * already accepted once and must not be dropped.
 */
export class WaitingQueue {
  #items: TrackedJob[] = [];
  #head = 0;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.#items.length - this.#head;
  }

  get full(): boolean {
    return this.size >= this.limit;
  }

  push(job: TrackedJob): void {
    this.#items.push(job);
  }

  /** Puts re-dispatched jobs first: they are the oldest work. */
  unshiftAll(jobs: readonly TrackedJob[]): void {
    if (jobs.length === 0) return;
    this.#items = [...jobs, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  remove(job: TrackedJob): boolean {
    const i = this.#items.indexOf(job, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    return true;
  }

  /**
   * Offers each waiting job to `place` in order; jobs it places leave the queue. Stops
   * early when `place` returns 'stop' (nothing more can be placed this round).
   */
  drain(place: (job: TrackedJob) => 'placed' | 'kept' | 'stop'): void {
    const items = this.#items;
    const kept: TrackedJob[] = [];
    let i = this.#head;
    for (; i < items.length; i++) {
      const job = items[i]!;
      const r = place(job);
      if (r === 'kept') kept.push(job);
      else if (r === 'stop') {
        kept.push(job);
        i++;
        break;
      }
    }
    // Only rebuild when something left; the common "nothing fits" case costs nothing.
    if (kept.length === i - this.#head) return;
    this.#items = kept.concat(items.slice(i));
    this.#head = 0;
  }

  /** Removes and returns everything (used at close). */
  takeAll(): TrackedJob[] {
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return all;
  }
}
