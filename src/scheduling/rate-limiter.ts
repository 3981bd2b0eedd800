import { InvalidArgumentError } from '../errors.ts';
import { MAX_DURATION_MS } from '../model/duration.ts';

/** At most `max` starts in any `duration` ms. */
export interface RateLimit {
  /** Starts allowed per window, a whole number ≥ 1. */
  max: number;
  /** The window, ms (> 0). */
  duration: number;
}

/**
 * A sliding-window limit: at most `max` takes in any window of `duration` ms (exact, not a
 * fixed window that allows 2 × max across a boundary). Keeps the last `max` take times in
 * a ring; `wait(now)` says how long until the next take is allowed, so a caller sets one
 * timer instead of polling.
 */
export class RateLimiter {
  readonly max: number;
  readonly duration: number;
  readonly #times: Float64Array;
  /** Where the next take is written; once full, also the oldest take. */
  #next = 0;
  #count = 0;

  constructor(limit: RateLimit, what = 'limiter') {
    if (typeof limit !== 'object' || limit === null) {
      throw new InvalidArgumentError(`${what} must be { max, duration }`);
    }
    for (const key of Object.keys(limit)) {
      if (key !== 'max' && key !== 'duration') {
        throw new InvalidArgumentError(`unknown ${what} option '${key}' (known: duration, max)`);
      }
    }
    const { max, duration } = limit;
    if (!Number.isSafeInteger(max) || max < 1 || max > 1_000_000) {
      throw new InvalidArgumentError(
        `${what}.max must be a whole number of starts from 1 to 1,000,000 (got ${String(max)})`,
      );
    }
    if (typeof duration !== 'number' || !(duration > 0) || duration > MAX_DURATION_MS) {
      throw new InvalidArgumentError(
        `${what}.duration must be a number of ms > 0 (got ${String(duration)})`,
      );
    }
    this.max = max;
    this.duration = duration;
    this.#times = new Float64Array(max);
  }

  /** ms until a take is allowed at `now` (0: now). */
  wait(now: number): number {
    if (this.#count < this.max) return 0;
    return Math.max(0, this.#times[this.#next]! + this.duration - now);
  }

  /** Takes one start at `now` (call after `wait(now)` said 0). */
  take(now: number): void {
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % this.max;
    if (this.#count < this.max) this.#count++;
  }
}
