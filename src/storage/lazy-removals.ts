import { StorageError } from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import { deferred, type Deferred } from '../model/deferred.ts';

/**
 * How long an acknowledged feedback's removal waits for another write to ride with, ms: at
 * a low rate each acknowledgement would otherwise be a write (a script call, a
 * transaction, a flush) of its own. Nothing depends on it being prompt: a feedback found
 * after a crash is sent again and its distributor drops the repeat. Under load a batch is
 * always being collected and the removals join it at once.
 */
export const LAZY_REMOVAL_MS = 10;
/** Removals waiting at most: past this many they go at once. */
export const MAX_LAZY_REMOVALS = 2000;

/** What a storage's write batch offers the removals: its feedback writes and its outcome. */
export interface RemovalBatch {
  /** Each feedback key's last write of the batch (`null`: removed). */
  readonly feedbacks: Map<string, Buffer | null>;
  /** Settles when the batch is applied (durable). */
  readonly done: Promise<void>;
}

/**
 * Which removals made while a batch is open join it at once:
 * - `'all'`: every one (the open batch took the waiting ones when it opened, so nothing
 *   waits while a batch is open; a feedback written again later in it overwrites its removal);
 * - `'written'`: only those of feedbacks written in that batch; the others wait and the
 *   batch takes them when it is sent (a feedback written again before that drops its removal,
 *   see {@link LazyRemovals.rewritten}).
 */
export type JoinOpenBatch = 'all' | 'written';

export interface LazyRemovalsOptions {
  /** Arms the wait's timer. */
  clock: Clock;
  /**
   * The waiting removals must go now (the wait is over, or {@link MAX_LAZY_REMOVALS} wait):
   * the storage opens a batch that takes them with {@link LazyRemovals.handTo}, or settles them.
   */
  due: () => void;
  /** See {@link JoinOpenBatch}. */
  join: JoinOpenBatch;
  /** The removals' promise rejects without an unhandled-rejection report. @default false */
  unobserved?: boolean;
}

/** See {@link LazyRemovals}. */
export const LazyRemovalsState = { Idle: 'idle', Waiting: 'waiting' } as const;
export type LazyRemovalsState = (typeof LazyRemovalsState)[keyof typeof LazyRemovalsState];

/**
 * Acknowledged feedbacks whose removal waits for the next write batch (one storage's).
 *
 *   idle ──remove (some wait)──► waiting           (a promise for them; a timer when no batch is open)
 *   waiting ──remove | rewritten──► waiting
 *   waiting ──handTo(batch)──► idle                (the keys go into the batch, the promise follows it)
 *   waiting ──settle(done), no key left──► idle    (the promise follows `done`, or resolves now)
 *   waiting ──timer, or too many wait──► waiting   (calls `due`, which hands them over)
 * `handTo` and `settle` are no-ops when idle. Reads treat a waiting key as removed.
 */
export class LazyRemovals {
  readonly #clock: Clock;
  readonly #due: () => void;
  readonly #join: JoinOpenBatch;
  readonly #unobserved: boolean;
  readonly #keys = new Set<string>();
  #state: LazyRemovalsState = LazyRemovalsState.Idle;
  /** Their promise: set exactly while waiting (the keys may all have been written again since). */
  #done: Deferred | undefined;
  #timer: TimerHandle | undefined;

  constructor(options: LazyRemovalsOptions) {
    this.#clock = options.clock;
    this.#due = options.due;
    this.#join = options.join;
    this.#unobserved = options.unobserved ?? false;
  }

  get state(): LazyRemovalsState {
    return this.#state;
  }

  /** Keys waiting. */
  get size(): number {
    return this.#keys.size;
  }

  /** The oldest key waiting (for error messages), if any. */
  get first(): string | undefined {
    return this.#keys.values().next().value;
  }

  /** Whether `key`'s removal waits (reads treat it as removed). */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.#keys.values();
  }

  /**
   * Removes `keys` with `open` (this turn's batch, if any) or the next batch, as
   * {@link JoinOpenBatch} says; resolves once they are removed.
   */
  remove(keys: readonly string[], open: RemovalBatch | undefined): Promise<void> {
    let waits = false;
    for (const key of keys) {
      if (open !== undefined && (this.#join === 'all' || open.feedbacks.has(key))) {
        // Removed there after its write: the batch keeps each key's last write.
        open.feedbacks.set(key, null);
      } else {
        this.#keys.add(key);
        waits = true;
      }
    }
    if (!waits) return open === undefined ? Promise.resolve() : open.done;
    let done = this.#done;
    if (done === undefined) {
      this.#done = done = deferred(this.#unobserved);
      this.#setState(LazyRemovalsState.Waiting);
    }
    if (open !== undefined) {
      // Taken when the open batch is sent.
    } else if (this.#keys.size >= MAX_LAZY_REMOVALS) {
      this.#due();
    } else if (this.#timer === undefined) {
      this.#timer = this.#clock.setTimer(() => this.#wakeUp(), LAZY_REMOVAL_MS);
      this.#timer.unref?.();
    }
    return done.done;
  }

  /** `key`'s feedback was written again: its waiting removal is dropped (the write stays). */
  rewritten(key: string): void {
    if (this.#keys.size > 0) this.#keys.delete(key);
  }

  /** `batch` takes every waiting removal; they settle with it. */
  handTo(batch: RemovalBatch): void {
    for (const key of this.#keys) batch.feedbacks.set(key, null);
    this.#keys.clear();
    this.#settleWith(batch.done);
  }

  /**
   * Ends a wait that has no key left (all written again): its promise follows `done`, or
   * resolves now when there is nothing to wait for.
   */
  settle(done: Promise<void> | undefined): void {
    if (this.#keys.size > 0) {
      throw new StorageError(`lazy removals: cannot settle with ${this.#keys.size} keys waiting`);
    }
    this.#settleWith(done);
  }

  #settleWith(done: Promise<void> | undefined): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    const waiting = this.#done;
    if (waiting === undefined) return;
    this.#done = undefined;
    this.#setState(LazyRemovalsState.Idle);
    if (done === undefined) waiting.resolve();
    else done.then(waiting.resolve, waiting.reject);
  }

  #setState(next: LazyRemovalsState): void {
    this.#state = next;
  }

  #wakeUp(): void {
    this.#timer = undefined;
    this.#due();
  }
}
