import type { JobRecord } from '../../model/job.ts';

export interface ReadyEntry {
  id: string;
  /** The record when the node has it at hand (instant jobs); otherwise it is loaded at start. */
  record?: JobRecord;
  /** The record is already stored marked as started (see WorkerNode #receive). */
  marked?: boolean;
  /**
   * The job's priority when the record is not at hand (a timer fired for it), or -1 for a
   * job granted a start by its distributor (it goes first: its start is counted).
   */
  priority?: number;
  /** Its distributor granted the start (a job of a name it limits, see PermitWaits). */
  permitted?: boolean;
}

/** One distributor's due jobs, first in first out; removal leaves a hole that `take` skips. */
class Lane {
  items: (ReadyEntry | undefined)[] = [];
  head = 0;
  /** Entries queued here and not taken or removed. */
  size = 0;
  /** In the queue's turn order (it has, or had until a removal, live entries). */
  inRotation = false;

  constructor(readonly key: string) {}

  push(entry: ReadyEntry): void {
    this.items.push(entry);
    this.size++;
  }

  /** The next live entry (`live`: still queued, not removed). */
  take(live: (entry: ReadyEntry) => boolean): ReadyEntry | undefined {
    const items = this.items;
    while (this.head < items.length) {
      const entry = items[this.head];
      items[this.head++] = undefined;
      if (entry !== undefined && live(entry)) {
        this.size--;
        this.#compact();
        return entry;
      }
    }
    this.#compact();
    return undefined;
  }

  #compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** One priority's lanes, taking turns (see ReadyQueue). */
class Level {
  readonly lanes = new Map<string, Lane>();
  /** Lanes with entries, in turn order; `turn` is the next to give one. */
  rotation: Lane[] = [];
  turn = 0;

  push(entry: ReadyEntry): Lane {
    const key = entry.record?.distributor ?? '';
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = new Lane(key);
      this.lanes.set(key, lane);
    }
    if (!lane.inRotation) {
      lane.inRotation = true;
      this.rotation.push(lane);
    }
    lane.push(entry);
    return lane;
  }

  take(live: (entry: ReadyEntry) => boolean): ReadyEntry | undefined {
    while (this.rotation.length > 0) {
      if (this.turn >= this.rotation.length) this.turn = 0;
      const lane = this.rotation[this.turn]!;
      const entry = lane.take(live);
      // Nothing live was left: whatever the count said, the lane is empty.
      if (entry === undefined) lane.size = 0;
      if (lane.size === 0) {
        // Out of the rotation (and forgotten: its holes go with it); the next lane moves
        // into this turn.
        lane.inRotation = false;
        this.rotation.splice(this.turn, 1);
        if (this.lanes.get(lane.key) === lane) this.lanes.delete(lane.key);
      } else {
        this.turn++;
      }
      if (entry !== undefined) return entry;
    }
    return undefined;
  }
}

/** A job's place in line: none (0) before priority 1, 1 before 2. */
const levelOf = (entry: ReadyEntry): number => entry.priority ?? entry.record?.priority ?? 0;

/**
 * Jobs that are due and wait for a free slot. By priority first (jobs without one, then
 * 1, 2, …); within a priority, fair across distributors: each has its own first-in-
 * first-out lane (by the record's distributor; jobs loaded by id share one), and the lanes
 * take turns, so a distributor that fills its prefetch window first does not make another
 * one's jobs wait behind all of it. With one distributor and no priorities it is a plain
 * FIFO. O(1) push, take, has and remove (removal leaves a hole that `take` skips), because
 * a million deferred jobs can fall due together.
 */
export class ReadyQueue {
  /** One set of lanes per priority in use; `#order` lists the priorities, ascending. */
  readonly #levels = new Map<number, Level>();
  #order: number[] = [];
  /** Every queued entry by id, with its lane. */
  readonly #ids = new Map<string, { entry: ReadyEntry; lane: Lane }>();

  get size(): number {
    return this.#ids.size;
  }

  push(entry: ReadyEntry): void {
    // Queued twice: the newer entry replaces the older (which becomes a hole).
    if (this.#ids.has(entry.id)) this.remove(entry.id);
    const priority = levelOf(entry);
    let level = this.#levels.get(priority);
    if (level === undefined) {
      level = new Level();
      this.#levels.set(priority, level);
      this.#order.push(priority);
      if (this.#order.length > 1) this.#order.sort((a, b) => a - b);
    }
    this.#ids.set(entry.id, { entry, lane: level.push(entry) });
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  get(id: string): ReadyEntry | undefined {
    return this.#ids.get(id)?.entry;
  }

  take(): ReadyEntry | undefined {
    while (this.#order.length > 0) {
      const priority = this.#order[0]!;
      const level = this.#levels.get(priority)!;
      const entry = level.take(this.#live);
      if (entry !== undefined) {
        this.#ids.delete(entry.id);
        return entry;
      }
      // This priority has nothing live left: the next one's turn.
      this.#levels.delete(priority);
      this.#order.shift();
    }
    return undefined;
  }

  /** Takes `id` out of the queue; returns its entry, or undefined when it was not queued. */
  remove(id: string): ReadyEntry | undefined {
    // The slot stays in its lane; take() skips entries no longer in the map.
    const queued = this.#ids.get(id);
    if (queued === undefined) return undefined;
    this.#ids.delete(id);
    queued.lane.size--;
    return queued.entry;
  }

  /** The queued entries, in no particular order. */
  *values(): IterableIterator<ReadyEntry> {
    for (const q of this.#ids.values()) yield q.entry;
  }

  clear(): void {
    this.#levels.clear();
    this.#order = [];
    this.#ids.clear();
  }

  readonly #live = (entry: ReadyEntry): boolean => this.#ids.get(entry.id)?.entry === entry;
}
