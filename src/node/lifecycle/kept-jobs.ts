import { InvalidArgumentError } from '../../errors.ts';
import { MAX_TIMER_DELAY, type Clock, type TimerHandle } from '../../model/clock.ts';
import { parseDuration } from '../../model/duration.ts';
import { assertKnownOptions, type OptionKeys } from '../../model/known-options.ts';

/** How many finished jobs of one kind a node keeps, and for how long. */
export interface KeepRule {
  /** Keep at most this many (the oldest go first). @default 10,000 */
  count?: number;
  /**
   * Keep none older than this: seconds (fractions allowed, as BullMQ's `age`) or a string
   * like `'7d'`, `'12h'`. @default no limit
   */
  age?: number | string;
}

/**
 * Retention of the finished jobs a node keeps (`removeDoneJobs: false`, and failed jobs,
 * which are kept unless `removeFailedJobs`). The oldest go first past `count`, and any
 * older than `age`. @default `{ complete: { count: 10000 }, failed: { count: 10000 } }`
 */
export interface KeepOptions {
  complete?: KeepRule;
  failed?: KeepRule;
}

/** The kinds of finished jobs a node keeps an index of. */
export type KeptStatus = 'complete' | 'failed';

export const KEEP_DEFAULT_COUNT = 10_000;

const KEEP_KEYS = { complete: true, failed: true } as const satisfies OptionKeys<KeepOptions>;

interface Resolved {
  count: number;
  /** ms; Infinity: no limit. */
  ageMs: number;
}

interface Entry {
  id: string;
  at: number;
}

/** One kind's kept jobs, oldest first; a deletion leaves a hole that the front skips. */
class Lane {
  items: (Entry | undefined)[] = [];
  head = 0;
  readonly ids = new Map<string, Entry>();
  timer: TimerHandle | undefined;

  constructor(readonly rule: Resolved) {}

  /** The oldest live entry (holes at the front are dropped). */
  oldest(): Entry | undefined {
    while (this.head < this.items.length) {
      const e = this.items[this.head];
      if (e !== undefined && this.ids.get(e.id) === e) return e;
      this.items[this.head++] = undefined;
    }
    this.items = [];
    this.head = 0;
    return undefined;
  }

  /** Takes the oldest live entry out. */
  shift(): Entry | undefined {
    const e = this.oldest();
    if (e === undefined) return undefined;
    this.items[this.head++] = undefined;
    this.ids.delete(e.id);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }
}

/**
 * The index of the finished jobs a node keeps in its storage, oldest first by the time
 * they ended, per kind, and the one owner of their retention: past `count` the oldest are
 * evicted at once, and a timer set for the oldest one's expiry evicts those older than
 * `age` (no scan, no polling: one timer per kind, re-armed for the next oldest). Evicted
 * ids go to `evict`, which removes them from the storage. A durable node rebuilds it at
 * start from the records it lists anyway. Counts come from here too, without a scan.
 */
export class KeptJobs {
  readonly #lanes: Record<KeptStatus, Lane>;
  readonly #clock: Clock;
  readonly #evict: (ids: string[]) => void;
  #closed = false;

  constructor(options: KeepOptions | undefined, clock: Clock, evict: (ids: string[]) => void) {
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) {
        throw new InvalidArgumentError('keep must be an object ({ complete?, failed? })');
      }
      assertKnownOptions(options, KEEP_KEYS, 'keep', {
        completed: "use 'complete'",
        cancelled: 'cancelled jobs are kept only with removeCancelledJobs: false, without a bound',
      });
    }
    this.#lanes = {
      complete: new Lane(resolveRule(options?.complete, 'keep.complete')),
      failed: new Lane(resolveRule(options?.failed, 'keep.failed')),
    };
    this.#clock = clock;
    this.#evict = evict;
  }

  count(status: KeptStatus): number {
    return this.#lanes[status].ids.size;
  }

  /** The kept jobs' ids of one kind, in no particular order. */
  ids(status: KeptStatus): IterableIterator<string> {
    return this.#lanes[status].ids.keys();
  }

  /** True when any finished job is indexed (a cheap guard before `delete`). */
  get empty(): boolean {
    return this.#lanes.complete.ids.size === 0 && this.#lanes.failed.ids.size === 0;
  }

  /** Job `id` ended `status` at `at` (epoch ms) and is kept; evicts past the limits. */
  add(id: string, status: KeptStatus, at: number): void {
    if (this.#closed) return;
    this.delete(id);
    const lane = this.#lanes[status];
    const entry = { id, at };
    lane.items.push(entry);
    lane.ids.set(id, entry);
    const evicted: string[] = [];
    while (lane.ids.size > lane.rule.count) evicted.push(lane.shift()!.id);
    this.#expire(lane, evicted);
  }

  /** Job `id` is no longer a kept finished job (removed, or its id enqueued again). */
  delete(id: string): void {
    for (const lane of [this.#lanes.complete, this.#lanes.failed]) lane.ids.delete(id);
  }

  /** Forgets everything and stops the timers (the node stops). */
  close(): void {
    this.#closed = true;
    for (const lane of [this.#lanes.complete, this.#lanes.failed]) {
      if (lane.timer !== undefined) this.#clock.clearTimer(lane.timer);
      lane.timer = undefined;
      lane.ids.clear();
      lane.items = [];
      lane.head = 0;
    }
  }

  /** Evicts what is past `age` (with `evicted` already chosen), then re-arms for the next oldest. */
  #expire(lane: Lane, evicted: string[]): void {
    const now = this.#clock.now();
    if (lane.rule.ageMs !== Number.POSITIVE_INFINITY) {
      for (
        let e = lane.oldest();
        e !== undefined && e.at + lane.rule.ageMs <= now;
        e = lane.oldest()
      ) {
        evicted.push(lane.shift()!.id);
      }
    }
    if (evicted.length > 0) this.#evict(evicted);
    this.#arm(lane, now);
  }

  #arm(lane: Lane, now: number): void {
    if (lane.rule.ageMs === Number.POSITIVE_INFINITY || lane.timer !== undefined) return;
    const oldest = lane.oldest();
    if (oldest === undefined) return;
    lane.timer = this.#clock.setTimer(
      () => {
        lane.timer = undefined;
        if (!this.#closed) this.#expire(lane, []);
      },
      // A long age is waited in steps (a timer fires early at most; #expire re-checks).
      Math.min(MAX_TIMER_DELAY, Math.max(0, oldest.at + lane.rule.ageMs - now)),
    );
    lane.timer.unref?.();
  }
}

function resolveRule(rule: KeepRule | undefined, where: string): Resolved {
  if (rule === undefined) return { count: KEEP_DEFAULT_COUNT, ageMs: Number.POSITIVE_INFINITY };
  if (typeof rule !== 'object' || rule === null) {
    throw new InvalidArgumentError(`${where} must be an object ({ count?, age? })`);
  }
  for (const key of Object.keys(rule)) {
    if (key !== 'count' && key !== 'age') {
      throw new InvalidArgumentError(`unknown ${where} option '${key}' (known: age, count)`);
    }
  }
  const count = rule.count ?? KEEP_DEFAULT_COUNT;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError(
      `${where}.count must be a whole number ≥ 0 (got ${String(rule.count)})`,
    );
  }
  const ageMs =
    rule.age === undefined ? Number.POSITIVE_INFINITY : parseDuration(rule.age, `${where}.age`);
  if (!(ageMs > 0)) throw new InvalidArgumentError(`${where}.age must be more than 0`);
  return { count, ageMs };
}
