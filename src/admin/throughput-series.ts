import type { Clock } from '../model/clock.ts';
import type { Feedback } from '../model/job.ts';

/** Seconds of history kept: the dashboard's "last minutes". */
export const SERIES_SECONDS = 600;

/** Finished jobs per second, by outcome, as `/api/series` reports them. */
export interface ThroughputSeries {
  /** Epoch ms of the first bucket; one bucket per second after it. */
  start: number;
  stepMs: number;
  completed: number[];
  failed: number[];
  cancelled: number[];
}

/**
 * A ring of one-second buckets counting final feedbacks by outcome (a periodic job's runs
 * count as completed too), fed by the distributor's `feedback` event. O(1) per feedback; no
 * timer: buckets that saw nothing are zeroed when time moves past them.
 */
export class ThroughputRing {
  readonly #clock: Clock;
  readonly #ok = new Uint32Array(SERIES_SECONDS);
  readonly #failed = new Uint32Array(SERIES_SECONDS);
  readonly #cancelled = new Uint32Array(SERIES_SECONDS);
  /** The second (epoch s) of the newest bucket. */
  #head: number;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#head = Math.floor(clock.now() / 1000);
  }

  readonly record = (fb: Feedback): void => {
    const i = this.#advance();
    if (fb.outcome === 'success') this.#ok[i]!++;
    else if (!fb.final) return;
    else if (fb.outcome === 'error') this.#failed[i]!++;
    else this.#cancelled[i]!++;
  };

  /** The buckets, oldest first, up to the current second. */
  snapshot(): ThroughputSeries {
    this.#advance();
    const first = this.#head - SERIES_SECONDS + 1;
    const read = (a: Uint32Array) =>
      Array.from({ length: SERIES_SECONDS }, (_, k) => a[(first + k) % SERIES_SECONDS]!);
    return {
      start: first * 1000,
      stepMs: 1000,
      completed: read(this.#ok),
      failed: read(this.#failed),
      cancelled: read(this.#cancelled),
    };
  }

  /** Moves the head to now, zeroing the buckets skipped; the index of now's bucket. */
  #advance(): number {
    const now = Math.floor(this.#clock.now() / 1000);
    if (now > this.#head) {
      const steps = Math.min(now - this.#head, SERIES_SECONDS);
      for (let s = 1; s <= steps; s++) {
        const i = (this.#head + s) % SERIES_SECONDS;
        this.#ok[i] = 0;
        this.#failed[i] = 0;
        this.#cancelled[i] = 0;
      }
      this.#head = now;
    }
    return this.#head % SERIES_SECONDS;
  }
}
