/** What was asked of a pending outcome: made on the first ask, which most outcomes never get. */
class Waiters<T> {
  promise: Promise<T> | undefined;
  resolve: ((value: T) => void) | undefined;
  reject: ((err: unknown) => void) | undefined;
  onSettled: (() => void)[] | undefined;
}

/**
 * A promise made only when someone asks for it. `JobHandle.result` rejects when a job
 * fails; with an eager promise, an application that never looks at `result` would get an
 * unhandled rejection (which kills Node by default). Asking is opting in.
 *
 * The distributor holds two per tracked job (a million jobs may wait), so an instance has
 * three fields and no private methods (which would add a brand slot): the state, the
 * value or error, and the rarely needed waiters.
 *
 * `S` is what `resolve` stores; `present` turns it into the promise's value when a promise
 * is made (a subclass can store less than it hands out).
 */
export class LazyOutcome<T, S = T> {
  #state: 'pending' | 'resolved' | 'rejected' = 'pending';
  /** The stored value once resolved, the error once rejected. */
  #value: unknown;
  #waiters: Waiters<T> | undefined;

  /** The promise's value for a stored value. */
  protected present(stored: S): T {
    return stored as unknown as T;
  }

  /** Runs `fn` once when the outcome settles (at once if it already has). */
  onSettled(fn: () => void): void {
    if (this.#state !== 'pending') return fn();
    const w = (this.#waiters ??= new Waiters());
    // `[fn]`, not `[]` + push: a pushed-to empty array reserves 17 slots.
    if (w.onSettled) w.onSettled.push(fn);
    else w.onSettled = [fn];
  }

  get settled(): boolean {
    return this.#state !== 'pending';
  }

  get promise(): Promise<T> {
    const w = (this.#waiters ??= new Waiters());
    if (!w.promise) {
      if (this.#state === 'resolved') w.promise = Promise.resolve(this.present(this.#value as S));
      else if (this.#state === 'rejected') w.promise = Promise.reject(this.#value);
      else {
        w.promise = new Promise<T>((resolve, reject) => {
          w.resolve = resolve;
          w.reject = reject;
        });
      }
    }
    return w.promise;
  }

  resolve(value: S): void {
    if (this.#state !== 'pending') return;
    this.#state = 'resolved';
    this.#value = value;
    const w = this.#waiters;
    if (!w) return;
    w.resolve?.(this.present(value));
    settled(w);
  }

  reject(err: unknown): void {
    if (this.#state !== 'pending') return;
    this.#state = 'rejected';
    this.#value = err;
    const w = this.#waiters;
    if (!w) return;
    w.reject?.(err);
    settled(w);
  }
}

/** Drops the settle functions (their promise is settled) and runs the onSettled callbacks once. */
function settled<T>(w: Waiters<T>): void {
  w.resolve = w.reject = undefined;
  const fns = w.onSettled;
  w.onSettled = undefined;
  if (fns) for (const fn of fns) fn();
}
