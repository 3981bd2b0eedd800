import type { JobRecord } from '../../model/job.ts';

export interface ReadyEntry {
  id: string;
  /** The record when the node has it at hand (instant jobs); otherwise it is loaded at start. */
  record?: JobRecord;
  /** The record is already stored marked as started (see WorkerNode #receive). */
  marked?: boolean;
}

/**
 * Jobs that are due and wait for a free slot, first in first out. O(1) push, take, has and
 * remove (removal leaves a hole that `take` skips), because a million deferred jobs can
 * fall due together.
 */
export class ReadyQueue {
  #items: (ReadyEntry | undefined)[] = [];
  #head = 0;
  readonly #ids = new Map<string, ReadyEntry>();

  get size(): number {
    return this.#ids.size;
  }

  push(entry: ReadyEntry): void {
    this.#items.push(entry);
    this.#ids.set(entry.id, entry);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  take(): ReadyEntry | undefined {
    while (this.#head < this.#items.length) {
      const entry = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (entry && this.#ids.get(entry.id) === entry) {
        this.#ids.delete(entry.id);
        this.#compact();
        return entry;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Takes `id` out of the queue; returns its entry, or undefined when it was not queued. */
  remove(id: string): ReadyEntry | undefined {
    // The slot stays in the array; take() skips entries no longer in the map.
    const entry = this.#ids.get(id);
    if (entry !== undefined) this.#ids.delete(id);
    return entry;
  }

  /** The queued entries, in no particular order. */
  values(): IterableIterator<ReadyEntry> {
    return this.#ids.values();
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#ids.clear();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
