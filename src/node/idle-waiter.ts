/** How often a wait re-checks its condition when nothing wakes it. */
const POLL_MS = 10;

/**
 * Waits for a condition (typically "no job running") with a deadline: re-checks it every
 * 10 ms, and at once when woken (`wake()`, called when the node becomes idle), so stop()
 * neither spins nor lags. Runs on real time (Date.now, setTimeout), not the node's clock:
 * a stop must end even when a test's fake clock stands still.
 */
export class IdleWaiter {
  #waiters: (() => void)[] = [];

  /** Resolves once `done()` holds or `Date.now()` reaches `deadline`, whichever is first. */
  async until(done: () => boolean, deadline: number): Promise<void> {
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, POLL_MS);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wakes every pending wait to re-check its condition now. */
  wake(): void {
    if (this.#waiters.length === 0) return; // the common case: no stop() in progress
    for (const w of this.#waiters.splice(0)) w();
  }
}
