/**
 * Time, injected everywhere it is read, so tests drive it by hand. `setTimer` may fire
 * early or late; callers re-check `now()` when it fires.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  /**
   * Optional: like `setTimer`, for due times that should be met closely (a node's job
   * timers); cleared with `clearTimer`. Clocks without it use `setTimer`.
   */
  setPreciseTimer?(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export interface TimerHandle {
  /** Lets the process exit while only this timer is pending (like `Timeout.unref`). */
  unref?(): void;
}

/** Node's largest setTimeout delay (2^31 − 1 ms, about 24.8 days). Longer waits are chained. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Fires `fn` once `Date.now()` has reached the target, as soon after as it can. Node's
 * timers have 1 ms granularity and measure from the event loop's cached time, so a
 * `setTimeout` often fires up to a millisecond before the target in `Date.now()` terms,
 * and a second `setTimeout(1)` then lands up to ~2 ms late. Here the last millisecond is
 * waited with `setImmediate` re-checks instead: at most ~1 ms of busy waiting, only when
 * the timeout came early, and I/O keeps running in between.
 */
export class PreciseTimer implements TimerHandle {
  readonly #fn: () => void;
  readonly #target: number;
  #timeout: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #unref = false;
  #cleared = false;

  constructor(fn: () => void, ms: number) {
    this.#fn = fn;
    this.#target = Date.now() + Math.max(0, ms);
    // Never synchronously: a caller may not hold the handle yet.
    if (ms > 0) this.#timeout = setTimeout(this.#check, Math.min(ms, MAX_TIMER_DELAY));
    else this.#immediate = setImmediate(this.#check);
  }

  unref(): void {
    this.#unref = true;
    this.#timeout?.unref();
    this.#immediate?.unref();
  }

  clear(): void {
    this.#cleared = true;
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timeout = this.#immediate = undefined;
  }

  readonly #check = (): void => {
    this.#timeout = this.#immediate = undefined;
    if (this.#cleared) return;
    const left = this.#target - Date.now();
    if (left <= 0) return this.#fn();
    if (left <= 1) {
      // The timeout came early (the loop's cached time was behind): wait out the rest here.
      this.#immediate = setImmediate(this.#check);
      if (this.#unref) this.#immediate.unref();
      return;
    }
    this.#timeout = setTimeout(this.#check, Math.min(left, MAX_TIMER_DELAY));
    if (this.#unref) this.#timeout.unref();
  };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_DELAY)),
  setPreciseTimer: (fn, ms) => new PreciseTimer(fn, ms),
  clearTimer: (handle) => {
    if (handle instanceof PreciseTimer) handle.clear();
    else clearTimeout(handle as NodeJS.Timeout);
  },
};
