import type { TrackedJob } from './tracked-job.ts';

/**
 * One priority's jobs, first in first out. `items[head…]` are the jobs in line; a slot of
 * that range is `undefined` where a job was removed (cancelled while waiting). Each job's
 * `waitSlot` is its slot's number (`base` + index), so `remove` costs O(1): cancelling 100k
 * waiting jobs one by one was quadratic (an `indexOf` and a `splice` each), seconds of
 * blocked event loop. The slot is checked by identity, so a stale `waitSlot` (the job left,
 * or sits in another FIFO) is harmless. Holes are dropped when they outnumber the jobs.
 */
class Fifo {
  #items: (TrackedJob | undefined)[] = [];
  #head = 0;
  /** Slot number of `#items[0]`. */
  #base = 0;
  #holes = 0;

  get size(): number {
    return this.#items.length - this.#head - this.#holes;
  }

  push(job: TrackedJob): void {
    job.waitSlot = this.#base + this.#items.length;
    this.#items.push(job);
  }

  /**
   * Puts `jobs` first, in their order: written into the free room before the line, in
   * O(jobs). Without room, the line is laid out again with as much room before it as it
   * is long, so a run of unshifts costs O(what they add) in all. (A copy of the whole line
   * per call made a node that refused jobs batch after batch quadratic: 800k waiting jobs
   * blocked the distributor's loop for over a minute.)
   */
  unshiftAll(jobs: readonly TrackedJob[]): void {
    const k = jobs.length;
    if (k === 0) return;
    if (k > this.#head) this.#relay(k + this.size);
    const start = this.#head - k;
    for (let j = 0; j < k; j++) {
      const job = jobs[j]!;
      this.#items[start + j] = job;
      job.waitSlot = this.#base + start + j;
    }
    this.#head = start;
  }

  remove(job: TrackedJob): boolean {
    const i = job.waitSlot - this.#base;
    if (i < this.#head || i >= this.#items.length || this.#items[i] !== job) return false;
    this.#items[i] = undefined;
    this.#holes++;
    if (i === this.#head) this.#skipHoles();
    if (this.#holes > 1024 && this.#holes * 2 > this.#items.length - this.#head) {
      this.#relay(0);
    }
    return true;
  }

  /** The job with this id (a scan). */
  find(id: string): TrackedJob | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      if (this.#items[i]?.spec.id === id) return this.#items[i];
    }
    return undefined;
  }

  /** See WaitingQueue.drain; returns false when `place` said 'stop'. */
  drain(place: (job: TrackedJob) => 'placed' | 'kept' | 'stop'): boolean {
    const items = this.#items;
    const kept: TrackedJob[] = [];
    let i = this.#head;
    let stopped = false;
    for (; i < items.length; i++) {
      const job = items[i];
      if (job === undefined) {
        this.#holes--; // passed: it leaves with the visited part
        continue;
      }
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
    for (let j = this.#head; j < head; j++) items[j] = undefined;
    for (let j = 0; j < kept.length; j++) {
      items[head + j] = kept[j]!;
      kept[j]!.waitSlot = this.#base + head + j;
    }
    this.#head = head;
    if (head > 1024 && head * 2 > items.length) {
      this.#items = items.slice(head);
      this.#base += head;
      this.#head = 0;
    }
    return !stopped;
  }

  takeAll(): TrackedJob[] {
    const all = this.#live();
    this.#items = [];
    this.#head = 0;
    this.#holes = 0;
    return all;
  }

  /** The jobs in line, in order, without holes. */
  #live(): TrackedJob[] {
    const live: TrackedJob[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const job = this.#items[i];
      if (job !== undefined) live.push(job);
    }
    return live;
  }

  /**
   * The line laid out again without holes, after `room` free slots (for unshifts), numbered
   * from a fresh base so that no old `waitSlot` can match. Filled by push, not
   * `new Array(n)`: past 100k elements that makes a slow dictionary array.
   */
  #relay(room: number): void {
    const items: (TrackedJob | undefined)[] = [];
    for (let j = 0; j < room; j++) items.push(undefined);
    const base = this.#base + this.#items.length;
    for (let i = this.#head; i < this.#items.length; i++) {
      const job = this.#items[i];
      if (job === undefined) continue;
      job.waitSlot = base + items.length;
      items.push(job);
    }
    this.#items = items;
    this.#base = base;
    this.#head = room;
    this.#holes = 0;
  }

  #skipHoles(): void {
    while (this.#head < this.#items.length && this.#items[this.#head] === undefined) {
      this.#head++;
      this.#holes--;
    }
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
    this.#level(levelOf(job)).push(job);
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
      const job = fifo.find(id);
      if (job !== undefined) return job;
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
