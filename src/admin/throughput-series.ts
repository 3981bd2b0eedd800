import type { Clock } from '../model/clock.ts';
import type { Feedback, JobSpec } from '../model/job.ts';

/** Seconds of history kept: the dashboard's "last minutes". */
export const SERIES_SECONDS = 600;

/** Finished jobs per second, by outcome, and their latency, as `/api/series` reports them. */
export interface ThroughputSeries {
  /** Epoch ms of the first bucket; one bucket per second after it. */
  start: number;
  stepMs: number;
  completed: number[];
  failed: number[];
  cancelled: number[];
  /**
   * Turnaround of the one-off jobs that ended in that second (due: enqueued, or their
   * runAt, to their final feedback), ms, median and 99th percentile; null: none ended.
   */
  p50: (number | null)[];
  p99: (number | null)[];
}

/**
 * Latency classes: upper bounds in ms, 0.1 ms to 10 min in steps of about 26 % (10 per
 * decade), so a percentile read from the classes is within that step of the true one.
 */
const LATENCY_BOUNDS = Array.from({ length: 68 }, (_, k) => 0.1 * 10 ** (k / 10));
const CLASSES = LATENCY_BOUNDS.length + 1;

function latencyClass(ms: number): number {
  // log10(ms / 0.1) * 10, rounded up: the first bound ≥ ms.
  if (!(ms > 0.1)) return 0;
  return Math.min(CLASSES - 1, Math.ceil(Math.log10(ms / 0.1) * 10 - 1e-9));
}

/**
 * A ring of one-second buckets counting final feedbacks by outcome (a periodic job's runs
 * count as completed too), fed by the distributor's `feedback` event, and a latency
 * histogram per second (one-off jobs' turnaround, in LATENCY_BOUNDS classes). O(1) per
 * feedback; no timer: buckets that saw nothing are zeroed when time moves past them.
 */
export class ThroughputRing {
  readonly #clock: Clock;
  readonly #ok = new Uint32Array(SERIES_SECONDS);
  readonly #failed = new Uint32Array(SERIES_SECONDS);
  readonly #cancelled = new Uint32Array(SERIES_SECONDS);
  /** Per second, the count of each latency class (CLASSES cells a second). */
  readonly #latency = new Uint32Array(SERIES_SECONDS * CLASSES);
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

  /** A one-off job `spec` ended (its final feedback) at `now`: its turnaround is counted. */
  readonly turnaround = (spec: JobSpec, fb: Feedback, now: number): void => {
    if (!fb.final || spec.period !== undefined || spec.cron !== undefined) return;
    const i = this.#advance();
    this.#latency[i * CLASSES + latencyClass(now - spec.runAt)]!++;
  };

  /** The buckets, oldest first, up to the current second. */
  snapshot(): ThroughputSeries {
    this.#advance();
    const first = this.#head - SERIES_SECONDS + 1;
    const read = (a: Uint32Array) =>
      Array.from({ length: SERIES_SECONDS }, (_, k) => a[(first + k) % SERIES_SECONDS]!);
    const p50: (number | null)[] = [];
    const p99: (number | null)[] = [];
    for (let k = 0; k < SERIES_SECONDS; k++) {
      const at = ((first + k) % SERIES_SECONDS) * CLASSES;
      const counts = this.#latency.subarray(at, at + CLASSES);
      p50.push(percentile(counts, 0.5));
      p99.push(percentile(counts, 0.99));
    }
    return {
      start: first * 1000,
      stepMs: 1000,
      completed: read(this.#ok),
      failed: read(this.#failed),
      cancelled: read(this.#cancelled),
      p50,
      p99,
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
        this.#latency.fill(0, i * CLASSES, (i + 1) * CLASSES);
      }
      this.#head = now;
    }
    return this.#head % SERIES_SECONDS;
  }
}

/** The upper bound (ms) of the class holding quantile `q` of `counts`; null when empty. */
function percentile(counts: Uint32Array, q: number): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let c = 0; c < counts.length; c++) {
    seen += counts[c]!;
    if (seen >= rank) {
      const bound = LATENCY_BOUNDS[c] ?? LATENCY_BOUNDS.at(-1)!;
      return Math.round(bound * 1000) / 1000;
    }
  }
  return null;
}
