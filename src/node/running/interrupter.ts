/**
 * What the runner needs of an external stop: an `AbortSignal`, or an {@link Interrupter}.
 */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A minimal stand-in for an AbortController, for a node's one-per-running-job stop handle:
 * `new AbortController()` costs a few microseconds and a handful of objects (an EventTarget
 * underneath), which shows at tens of thousands of jobs per second; this is one small
 * object. It is its own `signal`. Listeners run once, in order, on the first `abort()`.
 */
export class Interrupter implements StopSignal {
  #aborted = false;
  #reason: unknown;
  #listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  get signal(): this {
    return this;
  }

  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }

  addEventListener(type: 'abort', listener: () => void): void {
    if (type !== 'abort' || this.#aborted) return;
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    const i = this.#listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.#listeners!.splice(i, 1);
  }

  /** Listeners waiting (for tests: nothing may be left behind). */
  get listenerCount(): number {
    return this.#listeners?.length ?? 0;
  }
}
