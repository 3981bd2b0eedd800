import { EventEmitter } from 'node:events';

/** Maps event names to listener argument tuples. */
export type EventMap = Record<string, unknown[]>;

/**
 * A typed facade over EventEmitter. Listener exceptions are not caught here; the
 * emitters in this library only emit from places where a throwing listener is caught.
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter({ captureRejections: false });

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Emits to every listener; a listener that throws is reported to `onListenerError`, never to the caller. */
  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }

  protected listenerCount(event: keyof E & string): number {
    return this.#emitter.listenerCount(event);
  }

  /** Called when an event listener throws. Subclasses log it. */
  protected onListenerError(_event: string, _err: unknown): void {}
}
