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
      if (r === 'stop') break; // it stays, first of the rest
      if (r === 'kept') kept.push(job);
    }
    // The kept jobs go back, in order, just before the unvisited rest: the queue only
    // shrinks at its front, so a pass costs what it visited, never a copy of the rest
    // (a credit at a time over 100k waiting jobs would otherwise be quadratic).
    const head = i - kept.length;
    for (let j = this.#head; j < head; j++) items[j] = undefined as unknown as TrackedJob;
    for (let j = 0; j < kept.length; j++) items[head + j] = kept[j]!;
    this.#head = head;
    if (head > 1024 && head * 2 > items.length) {
      this.#items = items.slice(head);
      this.#head = 0;
    }
  }

  /** Removes and returns everything (used at close). */
  takeAll(): TrackedJob[] {
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return all;
  }
}
