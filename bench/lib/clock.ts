import { performance } from 'node:perf_hooks';

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across the processes
 * of one host: `performance.now()` (monotonic, fine-grained) shifted onto `Date.now()`
 * (the shared system clock) at a tick edge of the latter, found by spinning. Every bench
 * process calibrates on start (a few ms), so stamps taken in a worker and in a producer are
 * within a few microseconds of each other.
 */
function calibrate(): number {
  let bestWidth = Infinity;
  let offset = 0;
  for (let round = 0; round < 4; round++) {
    const start = Date.now();
    let before = performance.now();
    let now = Date.now();
    while (now === start) {
      before = performance.now();
      now = Date.now();
    }
    const after = performance.now();
    // The tick from `start` to `now` happened between `before` and `after`.
    if (after - before < bestWidth) {
      bestWidth = after - before;
      offset = now - (before + after) / 2;
    }
  }
  return offset;
}

let offset = calibrate();

/** Calibrated wall clock, epoch ms with a fraction. */
export function wallNow(): number {
  return offset + performance.now();
}

/** Re-calibrates (the system clock may be slewed over a long run). */
export function recalibrate(): void {
  offset = calibrate();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Yields to the event loop (I/O callbacks run) before resolving. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
