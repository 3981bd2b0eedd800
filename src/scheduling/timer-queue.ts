import { ClosedError, InvalidArgumentError } from '../errors.ts';
import { MAX_TIMER_DELAY, type Clock, type TimerHandle } from '../model/clock.ts';
import { IndexedHeap } from './indexed-heap.ts';

/** Options of {@link TimerQueue}. */
export interface TimerQueueOptions<K> {
  clock: Clock;
  /**
   * Called once per entry when its time has come (never before `dueAt`), in (dueAt, insertion)
   * order, from a timer callback (never inside `add`). The entry is already removed, so `onDue`
   * may `add` the key again.
   */
  onDue: (key: K, dueAt: number) => void;
  /** Told what `onDue` threw; the queue carries on either way. @default errors are dropped */
  onError?: (error: unknown, key: K) => void;
  /**
   * Longest single wait, ms. Longer delays are re-checked at least this often, so a wall-clock
   * step is noticed within `maxWait` and delays beyond Node's 24.8-day timer limit work.
   * @default 60_000
   */
  maxWait?: number;
  /** `unref` the armed timer so it alone does not keep the process alive. @default false */
  unref?: boolean;
}

/**
 * States of a TimerQueue:
 * - `idle` → `armed` (an entry is waiting) | `closed`
 * - `armed` → `idle` (the last entry was removed) | `firing` (the timer went off) | `closed`
 * - `firing` → `armed` | `idle` (after the due entries ran) | `closed` (from inside `onDue`)
 * - `closed` is final.
 */
export const TimerQueueState = {
  Idle: 'idle',
  Armed: 'armed',
  Firing: 'firing',
  Closed: 'closed',
} as const;
export type TimerQueueState = (typeof TimerQueueState)[keyof typeof TimerQueueState];

/**
 * Due times for any number of keys on ONE armed timer (no per-key `setTimeout`, no polling).
 * Entries sit in a binary min-heap ordered by (dueAt, insertion), kept as parallel arrays of
 * keys, due times and insertion numbers plus a Map from key to heap slot ({@link IndexedHeap}):
 * no object per entry, since a worker node may hold millions of them, and add and remove stay
 * O(log n). The timer is re-armed only when the head moves to an earlier time or is removed,
 * and after each firing. A timer that fires before the head is due (the `maxWait` cap, a clock
 * step back, an early timer) re-arms without firing anything.
 */
export class TimerQueue<K> {
  readonly #clock: Clock;
  readonly #onDue: (key: K, dueAt: number) => void;
  readonly #onError: ((error: unknown, key: K) => void) | undefined;
  readonly #maxWait: number;
  readonly #unref: boolean;
  /** The entries; each one's `seq` is its insertion number, the tie-break for equal times. */
  readonly #heap = new IndexedHeap<K>();
  /** Next insertion number. */
  #seq = 0;
  #state: TimerQueueState = TimerQueueState.Idle;
  #timer: TimerHandle | undefined;
  /** Clock time the armed timer was set for; compared with a new head's due time. */
  #armedAt = Infinity;

  constructor(options: TimerQueueOptions<K>) {
    const maxWait = options.maxWait ?? 60_000;
    if (typeof maxWait !== 'number' || !(maxWait >= 1 && maxWait <= MAX_TIMER_DELAY)) {
      throw new InvalidArgumentError(
        `maxWait must be 1..${MAX_TIMER_DELAY} ms (got ${String(maxWait)})`,
      );
    }
    if (typeof options.onDue !== 'function')
      throw new InvalidArgumentError('onDue must be a function');
    this.#clock = options.clock;
    this.#onDue = options.onDue;
    this.#onError = options.onError;
    this.#maxWait = maxWait;
    this.#unref = options.unref === true;
  }

  get state(): TimerQueueState {
    return this.#state;
  }

  /** Number of waiting entries. */
  get size(): number {
    return this.#heap.size;
  }

  /**
   * Schedules `key` at `dueAt` (epoch ms), replacing its previous entry if any (it then counts
   * as inserted now for tie-breaks). A time in the past fires on the next timer turn.
   *
   * @throws InvalidArgumentError for a non-finite `dueAt`; ClosedError after `close()`.
   */
  add(key: K, dueAt: number): void {
    if (this.#state === TimerQueueState.Closed) throw new ClosedError('timer queue is closed');
    if (typeof dueAt !== 'number' || !Number.isFinite(dueAt)) {
      throw new InvalidArgumentError(`dueAt must be a finite epoch ms (got ${String(dueAt)})`);
    }
    const heap = this.#heap;
    const index = heap.indexOf(key);
    if (index < 0) {
      heap.push(key, dueAt, this.#seq++);
      this.#reschedule(false);
      return;
    }
    // A head that moves later leaves the timer armed too early: set it afresh.
    const wasHeadMovedLater = index === 0 && dueAt > heap.dueAt(0);
    heap.update(index, dueAt, this.#seq++);
    this.#reschedule(wasHeadMovedLater);
  }

  /** Drops `key`'s entry; false when it had none. */
  remove(key: K): boolean {
    const index = this.#heap.indexOf(key);
    if (index < 0) return false;
    this.#heap.removeAt(index);
    if (index === 0) this.#reschedule(true);
    return true;
  }

  has(key: K): boolean {
    return this.#heap.has(key);
  }

  /** Every key with an entry, in no order. */
  keys(): IterableIterator<K> {
    return this.#heap.keys();
  }

  /** When `key` is due, or undefined when it has no entry. */
  dueAt(key: K): number | undefined {
    const index = this.#heap.indexOf(key);
    return index < 0 ? undefined : this.#heap.dueAt(index);
  }

  /** The next entry to fire, left in place. */
  peek(): { key: K; dueAt: number } | undefined {
    const heap = this.#heap;
    return heap.size === 0 ? undefined : { key: heap.keyAt(0), dueAt: heap.dueAt(0) };
  }

  /** Drops every entry and disarms the timer; the queue stays usable. */
  clear(): void {
    this.#heap.clear();
    if (this.#state !== TimerQueueState.Firing) this.#reschedule(true);
  }

  /** Disarms the timer and drops every entry for good; `add` then throws ClosedError. */
  close(): void {
    if (this.#state === TimerQueueState.Closed) return;
    this.#disarm();
    this.#heap.clear();
    this.#setState(TimerQueueState.Closed);
  }

  #setState(next: TimerQueueState): void {
    this.#state = next;
  }

  /**
   * Makes the timer match the head. Without `force` an armed timer is kept when it goes off
   * no later than the head is due (it re-checks then); with `force` it is set afresh.
   */
  #reschedule(force: boolean): void {
    // While firing, the batch re-arms once at its end; a closed queue never arms.
    if (this.#state === TimerQueueState.Firing || this.#state === TimerQueueState.Closed) return;
    if (this.#heap.size === 0) {
      this.#disarm();
      this.#setState(TimerQueueState.Idle);
      return;
    }
    const headDue = this.#heap.dueAt(0);
    const now = this.#clock.now();
    if (!force && this.#timer !== undefined && this.#armedAt <= Math.max(headDue, now)) return;
    this.#disarm();
    const delay = Math.min(Math.max(0, headDue - now), this.#maxWait);
    this.#armedAt = now + delay;
    const fire = () => this.#fire(timer);
    const timer = this.#clock.setPreciseTimer
      ? this.#clock.setPreciseTimer(fire, delay)
      : this.#clock.setTimer(fire, delay);
    if (this.#unref) timer.unref?.();
    this.#timer = timer;
    this.#setState(TimerQueueState.Armed);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  #fire(timer: TimerHandle): void {
    // A cleared timer whose callback was already queued must not fire a second batch.
    if (timer !== this.#timer) return;
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#setState(TimerQueueState.Firing);
    const now = this.#clock.now();
    // Entries added (or moved) by onDue during this batch wait for the next turn, so an
    // onDue that re-adds a past time cannot spin here forever.
    const limit = this.#seq;
    const heap = this.#heap;
    while (heap.size > 0) {
      const dueAt = heap.dueAt(0);
      if (dueAt > now || heap.seqAt(0) >= limit) break;
      const key = heap.keyAt(0);
      heap.removeAt(0);
      try {
        this.#onDue(key, dueAt);
      } catch (error) {
        this.#report(error, key);
      }
      if (this.#state !== TimerQueueState.Firing) return; // closed from inside onDue
    }
    this.#setState(TimerQueueState.Idle);
    this.#reschedule(true);
  }

  #report(error: unknown, key: K): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error, key);
    } catch {
      // An error reporter that throws must not stop the other due entries.
    }
  }
}
