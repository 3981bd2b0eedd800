import type { Clock, TimerHandle } from '../../model/clock.ts';
import type { JobRecord } from '../../model/job.ts';
import type { RateLimiter } from '../../scheduling/rate-limiter.ts';
import { ReadyQueue, type ReadyEntry } from './ready-queue.ts';

/**
 * Crashes after which a job runs alone (a suspect). Not after the first: a node crash takes
 * every job running on it, and running them all one by one would stall the fleet after any
 * crash. From the second, a poison job's further crashes blame nobody else, so with the
 * default maxDeliveries (3) an innocent job that ran beside it reaches 2 at most.
 */
export const SUSPECT_CRASHES = 2;

/**
 * Runs started in one event-loop turn before the rest wait for the next (`setImmediate`),
 * and the time after which they wait anyway. A run that settles starts the next in a
 * microtask (settle → schedule → pump → run), so retries due at once (retryMultiplier 0)
 * or a crowd of jobs due together would otherwise chain without ever letting I/O, timers
 * or heartbeats in. 256 runs of an instant job take well under a millisecond; a turn is
 * a handful of such batches on the hot path, so the budget costs nothing there.
 */
const PUMP_BUDGET_STARTS = 256;
const PUMP_BUDGET_MS = 10;

export interface SlotHooks {
  /** False while the node is not running: nothing starts. */
  canStart(): boolean;
  /**
   * Runs one due job in a slot just taken. The runner calls {@link RunSlots.ended} once,
   * when the run settles (a callback, not a promise: no promise and closure per job).
   */
  run(entry: ReadyEntry): void;
  /** No slot is in use any more (a stopping node waits for this). */
  idle(): void;
  /** The node's `limiter`: starts beyond it wait (in order) for its window to allow them. */
  limiter?: RateLimiter | undefined;
  /** Times the limiter's waits. */
  clock?: Clock;
}

/** True for a job that crashed its node often enough to run alone. */
export function isSuspect(record: Pick<JobRecord, 'crashes'>): boolean {
  return (record.crashes ?? 0) >= SUSPECT_CRASHES;
}

/**
 * The node's run slots, and the one owner of who may start: due jobs wait in the ready
 * queue for one of `concurrency` slots; a budget per event-loop turn keeps a crowd of runs
 * from starving I/O; and a crash suspect waits until the node is empty, then runs alone
 * (nothing else starts beside it), so if it brings the node down again no innocent job was
 * running to be blamed.
 */
export class RunSlots {
  readonly #concurrency: number;
  readonly #hooks: SlotHooks;
  readonly #ready = new ReadyQueue();
  readonly #suspects: ReadyEntry[] = [];
  /** The suspect running alone now. */
  #aloneId: string | undefined;
  #active = 0;
  /** Runs started since the last turn began (see PUMP_BUDGET_STARTS). */
  #turnStarts = 0;
  #turnStartedAt = 0;
  /** The budget ran out: the next turn pumps. */
  #yielded = false;
  /** Inside pump() (see release). */
  #pumping = false;
  /** A slot was released inside pump(): it looks again before it returns. */
  #releasedInPump = false;
  /** Paused (`node.pause()`): due jobs wait in the queue, in due order, and nothing starts. */
  #paused = false;
  /** Set while starts wait for the limiter's window: one timer, then a pump. */
  #limitTimer: TimerHandle | undefined;

  constructor(concurrency: number, hooks: SlotHooks) {
    this.#concurrency = concurrency;
    this.#hooks = hooks;
  }

  /** Slots in use. */
  get active(): number {
    return this.#active;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * running → paused: nothing starts from now on (running jobs go on); due jobs keep
   * their place in the queue. False when it was paused already.
   */
  pause(): boolean {
    if (this.#paused) return false;
    this.#paused = true;
    return true;
  }

  /** paused → running: the jobs that fell due meanwhile start, in queue order. False when not paused. */
  resume(): boolean {
    if (!this.#paused) return false;
    this.#paused = false;
    this.pump();
    return true;
  }

  /** A due job: it waits for a slot (and starts at once if one is free). */
  push(entry: ReadyEntry): void {
    this.#ready.push(entry);
    this.pump();
  }

  pushAll(entries: Iterable<ReadyEntry>): void {
    for (const entry of entries) this.#ready.push(entry);
    this.pump();
  }

  /** Jobs waiting for a slot (suspects too). */
  get waiting(): number {
    return this.#ready.size + this.#suspects.length;
  }

  /** The waiting entry of job `id`, if it waits. */
  get(id: string): ReadyEntry | undefined {
    return this.#ready.get(id) ?? this.#suspects.find((e) => e.id === id);
  }

  has(id: string): boolean {
    return this.#ready.has(id) || this.#suspects.some((e) => e.id === id);
  }

  /** Takes a waiting job out (cancelled, dropped); its entry, or undefined. */
  remove(id: string): ReadyEntry | undefined {
    const entry = this.#ready.remove(id);
    if (entry !== undefined) return entry;
    const i = this.#suspects.findIndex((e) => e.id === id);
    return i < 0 ? undefined : this.#suspects.splice(i, 1)[0];
  }

  /** Every waiting entry, suspects included. */
  *values(): IterableIterator<ReadyEntry> {
    yield* this.#ready.values();
    yield* this.#suspects;
  }

  /**
   * Whether `entry`, just given a slot, may run now: a suspect not yet running alone is
   * set aside until the node is empty (its slot goes back). True for every other job.
   */
  admit(id: string, record: JobRecord): boolean {
    if (!isSuspect(record) || this.#aloneId === id) return true;
    this.#suspects.push({ id, record });
    return false;
  }

  /**
   * Takes a slot for a job that starts outside the queue (an instant job a durable node
   * stores already marked started), only when nothing waits. Give it back with `release`.
   */
  reserve(record: Pick<JobRecord, 'crashes'>): boolean {
    if (this.#paused || this.#active >= this.#concurrency || this.#ready.size > 0) return false;
    if (this.#aloneId !== undefined || this.#suspects.length > 0 || isSuspect(record)) return false;
    if (!this.#allowedByLimiter()) return false;
    this.#active++;
    return true;
  }

  /** A slot is free again. */
  release(): void {
    this.#active--;
    if (this.#active === 0) this.#hooks.idle();
    // A run that ends at once (set aside, or found finished) ends inside pump(): that
    // pump looks again before it returns (see pump).
    if (this.#pumping) this.#releasedInPump = true;
    else this.pump();
  }

  /** Forgets every waiting job (the node stops, or gave up its storage). */
  clear(): void {
    this.#ready.clear();
    this.#suspects.length = 0;
    if (this.#limitTimer !== undefined) this.#hooks.clock?.clearTimer(this.#limitTimer);
    this.#limitTimer = undefined;
  }

  /**
   * Whether the limiter lets one more start happen now (and counts it); otherwise arms its
   * timer, once, for when the window allows the next.
   */
  #allowedByLimiter(): boolean {
    const limiter = this.#hooks.limiter;
    if (limiter === undefined) return true;
    const clock = this.#hooks.clock!;
    const now = clock.now();
    const wait = limiter.wait(now);
    if (wait === 0) {
      limiter.take(now);
      return true;
    }
    if (this.#limitTimer === undefined) {
      this.#limitTimer = clock.setTimer(() => {
        this.#limitTimer = undefined;
        this.pump();
      }, wait);
    }
    return false;
  }

  /** Starts waiting jobs while slots, the turn's budget and the suspect rule allow. */
  pump(): void {
    if (this.#yielded) return; // the next turn pumps
    if (this.#pumping) return this.#pumpLoop(); // from a run started by this pump
    this.#pumping = true;
    try {
      // A slot freed meanwhile (a run that ended at once) may let more start now, whichever
      // way the loop returned: once more, until none was.
      do {
        this.#releasedInPump = false;
        this.#pumpLoop();
      } while (this.#releasedInPump && !this.#yielded);
    } finally {
      this.#pumping = false;
    }
  }

  #pumpLoop(): void {
    while (!this.#paused && this.#hooks.canStart() && this.#active < this.#concurrency) {
      if (this.#aloneId !== undefined) return;
      if (this.#suspects.length > 0) {
        // A suspect waits until the node is empty, then runs alone.
        if (this.#active > 0) return;
        if (!this.#allowedByLimiter()) return;
        const entry = this.#suspects.shift()!;
        this.#aloneId = entry.id;
        this.#start(entry);
        return;
      }
      if (this.#ready.size === 0) return;
      if (
        this.#turnStarts > 0 &&
        (this.#turnStarts >= PUMP_BUDGET_STARTS ||
          performance.now() - this.#turnStartedAt > PUMP_BUDGET_MS)
      ) {
        this.#yielded = true;
        return;
      }
      if (!this.#allowedByLimiter()) return;
      if (this.#turnStarts === 0) {
        this.#turnStartedAt = performance.now();
        setImmediate(this.#nextTurn);
      }
      this.#turnStarts++;
      this.#start(this.#ready.take()!);
    }
  }

  #start(entry: ReadyEntry): void {
    this.#active++;
    this.#hooks.run(entry);
  }

  /** The run of job `id` (started by the `run` hook, or in a slot `reserve` took) is over. */
  ended(id: string): void {
    if (this.#aloneId === id) this.#aloneId = undefined;
    this.release();
  }

  /** After the I/O of the loop's next turn: a fresh budget, and the runs that waited for it. */
  readonly #nextTurn = (): void => {
    this.#turnStarts = 0;
    if (!this.#yielded) return;
    this.#yielded = false;
    this.pump();
  };
}
