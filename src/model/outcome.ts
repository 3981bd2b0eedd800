/**
 * A promise made only when someone asks for it. `JobHandle.result` rejects when a job
 * fails; with an eager promise, an application that never looks at `result` would get an
 * unhandled rejection (which kills Node by default). Asking is opting in.
 */
export class LazyOutcome<T> {
  #state: 'pending' | 'resolved' | 'rejected' = 'pending';
  #value: T | undefined;
  #error: unknown;
  #promise: Promise<T> | undefined;
  #resolve: ((value: T) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;

  #onSettled: (() => void)[] | undefined;

  /** Runs `fn` once when the outcome settles (at once if it already has). */
  onSettled(fn: () => void): void {
    if (this.#state !== 'pending') return fn();
    (this.#onSettled ??= []).push(fn);
  }

  get settled(): boolean {
    return this.#state !== 'pending';
  }

  get promise(): Promise<T> {
    if (!this.#promise) {
      if (this.#state === 'resolved') this.#promise = Promise.resolve(this.#value as T);
      else if (this.#state === 'rejected') this.#promise = Promise.reject(this.#error);
      else {
        this.#promise = new Promise<T>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
    }
    return this.#promise;
  }

  resolve(value: T): void {
    if (this.#state !== 'pending') return;
    this.#state = 'resolved';
    this.#value = value;
    this.#resolve?.(value);
    this.#fireSettled();
  }

  reject(err: unknown): void {
    if (this.#state !== 'pending') return;
    this.#state = 'rejected';
    this.#error = err;
    this.#reject?.(err);
    this.#fireSettled();
  }

  #fireSettled(): void {
    const fns = this.#onSettled;
    this.#onSettled = undefined;
    if (fns) for (const fn of fns) fn();
  }
}
