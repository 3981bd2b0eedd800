import type { TrackedJob } from './tracked-job.ts';

/** One priority's jobs, first in first out (the queue of the seed, unchanged). */
class Fifo {
  items: TrackedJob[] = [];
  head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  unshiftAll(jobs: readonly TrackedJob[]): void {
    this.items = [...jobs, ...this.items.slice(this.head)];
    this.head = 0;
  }

  remove(job: TrackedJob): boolean {
    const i = this.items.indexOf(job, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** See WaitingQueue.drain; returns false when `place` said 'stop'. */
  drain(place: (job: TrackedJob) => 'placed' | 'kept' | 'stop'): boolean {
    const items = this.items;
    const kept: TrackedJob[] = [];
    let i = this.head;
    let stopped = false;
    for (; i < items.length; i++) {
      const job = items[i]!;
      const r = place(job);
      if (r === 'stop') {
        stopped = true; // it stays, first of the rest
        break;
      }
      if (r === 'kept') kept.push(job);
    }
    // The kept jobs go back, in order, just before the unvisited rest: the queue only
    // shrinks at its front, so a pass costs what it visited, never a copy of the rest
    // (a credit at a time over 100k waiting jobs would otherwise be quadratic).
    const head = i - kept.length;
    for (let j = this.head; j < head; j++) items[j] = undefined as unknown as TrackedJob;
    for (let j = 0; j < kept.length; j++) items[head + j] = kept[j]!;
    this.head = head;
    if (head > 1024 && head * 2 > items.length) {
      this.items = items.slice(head);
      this.head = 0;
    }
    return !stopped;
  }

  takeAll(): TrackedJob[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}

/** A job's place in line: its priority, none (0) before 1, 1 before 2. */
const levelOf = (job: TrackedJob): number => job.spec.priority ?? 0;

/**
 * Jobs with no eligible node yet, by priority (jobs without one first, then 1, 2, …), each
 * priority in arrival order. Bounded for new jobs (enqueue fails past `limit`); jobs coming
 * back from a lost node are always taken, since they were already accepted once and must
 * not be dropped. With no priorities in use it is one FIFO.
 */
export class WaitingQueue {
  /** One FIFO per priority in use; `#order` lists the priorities, ascending. */
  readonly #levels = new Map<number, Fifo>();
  #order: number[] = [];
  #size = 0;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.#size;
  }

  get full(): boolean {
    return this.#size >= this.limit;
  }

  push(job: TrackedJob): void {
    this.#level(levelOf(job)).items.push(job);
    this.#size++;
  }

  /** Puts re-dispatched jobs first in their priority: they are the oldest work. */
  unshiftAll(jobs: readonly TrackedJob[]): void {
    if (jobs.length === 0) return;
    const byLevel = new Map<number, TrackedJob[]>();
    for (const job of jobs) {
      const level = levelOf(job);
      const list = byLevel.get(level);
      if (list === undefined) byLevel.set(level, [job]);
      else list.push(job);
    }
    for (const [level, list] of byLevel) this.#level(level).unshiftAll(list);
    this.#size += jobs.length;
  }

  /** The waiting job with this id (a scan: for lookups, not the hot path). */
  find(id: string): TrackedJob | undefined {
    for (const fifo of this.#levels.values()) {
      for (let i = fifo.head; i < fifo.items.length; i++) {
        if (fifo.items[i]!.spec.id === id) return fifo.items[i];
      }
    }
    return undefined;
  }

  remove(job: TrackedJob): boolean {
    const removed = this.#levels.get(levelOf(job))?.remove(job) === true;
    if (removed) this.#size--;
    return removed;
  }

  /**
   * Offers each waiting job to `place`, highest priority first, each priority in order;
   * jobs it places leave the queue. Stops early when `place` returns 'stop' (nothing more
   * can be placed this round).
   */
  drain(place: (job: TrackedJob) => 'placed' | 'kept' | 'stop'): void {
    for (const level of this.#order) {
      const fifo = this.#levels.get(level)!;
      const before = fifo.size;
      const goOn = fifo.drain(place);
      this.#size -= before - fifo.size;
      if (!goOn) break;
    }
    this.#dropEmpty();
  }

  /** Removes and returns everything, in queue order (used at close and on node changes). */
  takeAll(): TrackedJob[] {
    // One priority (the common case) hands its array over. Several are copied item by item:
    // `push(...jobs)` passes every job as an argument and overflows the stack past ~100k.
    let all: TrackedJob[] = [];
    for (const level of this.#order) {
      const jobs = this.#levels.get(level)!.takeAll();
      if (all.length === 0) all = jobs;
      else for (const job of jobs) all.push(job);
    }
    this.#levels.clear();
    this.#order = [];
    this.#size = 0;
    return all;
  }

  #level(level: number): Fifo {
    let fifo = this.#levels.get(level);
    if (fifo === undefined) {
      fifo = new Fifo();
      this.#levels.set(level, fifo);
      this.#order.push(level);
      if (this.#order.length > 1) this.#order.sort((a, b) => a - b);
    }
    return fifo;
  }

  /** Priorities whose jobs are all gone leave the order (a priority used once costs nothing later). */
  #dropEmpty(): void {
    if (this.#order.length === 1) return; // the common case: keep the one FIFO
    for (const level of this.#order) {
      if (this.#levels.get(level)!.size === 0) this.#levels.delete(level);
    }
    if (this.#levels.size !== this.#order.length)
      this.#order = [...this.#levels.keys()].sort((a, b) => a - b);
  }
}
