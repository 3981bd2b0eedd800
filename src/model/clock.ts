/**
 * Time, injected everywhere it is read, so tests drive it by hand. `setTimer` may fire
 * early or late; callers re-check `now()` when it fires.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export interface TimerHandle {
  /** Lets the process exit while only this timer is pending (like `Timeout.unref`). */
  unref?(): void;
}

/** Node's largest setTimeout delay (2^31 − 1 ms, about 24.8 days). Longer waits are chained. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_DELAY)),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
