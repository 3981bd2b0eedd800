import { TimeoutError } from '../../errors.ts';
import type { Clock, TimerHandle } from '../../model/clock.ts';
import type { JobRecord } from '../../model/job.ts';
import type { StopSignal } from './interrupter.ts';

/** How a phase of an attempt ended. */
export type PhaseResult =
  | { type: 'done' }
  | { type: 'threw'; thrown: unknown }
  | { type: 'timeout'; error: TimeoutError }
  | { type: 'abort'; reason: unknown };
export type Interruption = Extract<PhaseResult, { type: 'timeout' | 'abort' }>;

/**
 * One phase of an attempt (the chain, or the errbacks): its AbortController, the timeout
 * timer and the listener on the external signal. The controller is made only when a step
 * reads `ctx.signal` (most never do), and the timer is armed only once a step returns a
 * promise (timers cannot fire while synchronous steps run anyway). The listener too is
 * added only then, or when the controller is made: while steps run synchronously, an
 * abort of the external signal (by a step itself) is seen between steps and at the end,
 * by looking at it (`stopped`, `dispose`). `dispose()` clears them, so nothing
 * accumulates over many attempts.
 */
export class Phase {
  #controller: AbortController | undefined;
  #stopped = false;
  readonly #clock: Clock;
  readonly #external: StopSignal | undefined;
  readonly #record: JobRecord;

  /** The job this phase runs (for reports about it). */
  get record(): JobRecord {
    return this.#record;
  }
  readonly #errbacks: boolean;
  readonly #timeoutMs: number | undefined;
  readonly #deadline: number;
  #async = false;
  #listening = false;
  #disposed = false;
  #timer: TimerHandle | undefined;
  #resolve: ((i: Interruption) => void) | undefined;
  /** Settles only when the phase is interrupted; set once the phase went asynchronous and something can interrupt it. */
  interrupted: Promise<Interruption> | undefined;
  interruption: Interruption | undefined;

  constructor(
    clock: Clock,
    timeoutMs: number | undefined,
    external: StopSignal | undefined,
    record: JobRecord,
    errbacks: boolean,
  ) {
    this.#clock = clock;
    this.#external = external;
    this.#record = record;
    this.#errbacks = errbacks;
    this.#timeoutMs = timeoutMs;
    this.#deadline = timeoutMs === undefined ? 0 : clock.now() + timeoutMs;
    if (external === undefined) return;
    if (external.aborted) this.#interrupt({ type: 'abort', reason: external.reason });
  }

  /** Listens to the external signal from now on (once the phase can be interrupted while it waits). */
  #listen(): void {
    const external = this.#external;
    if (external === undefined || this.#listening || this.#disposed) return;
    if (this.#catchUp()) return;
    external.addEventListener(
      'abort',
      (this.#onAbort ??= () => this.#interrupt({ type: 'abort', reason: external.reason })),
    );
    this.#listening = true;
  }

  /** Not listening (yet): an abort of the external signal meanwhile interrupts now. True if so. */
  #catchUp(): boolean {
    const external = this.#external;
    if (this.#listening || this.#disposed || external === undefined || !external.aborted) {
      return false;
    }
    this.#interrupt({ type: 'abort', reason: external.reason });
    return true;
  }

  /** The phase's signal (made on first use; aborted already if the phase was interrupted). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#stopped) this.#controller.abort(this.#reason());
      // A step holds the signal now: an abort of the external one must reach it at once.
      else this.#listen();
    }
    return this.#controller.signal;
  }

  get stopped(): boolean {
    if (!this.#stopped) this.#catchUp();
    return this.#stopped;
  }

  /** A step returned a promise: from now on the phase can be interrupted while it waits. */
  goAsync(): void {
    if (this.#async) return;
    this.#async = true;
    if (this.#timeoutMs === undefined && this.#external === undefined) return;
    this.#listen();
    this.interrupted = new Promise<Interruption>((resolve) => (this.#resolve = resolve));
    if (this.interruption !== undefined) {
      this.#resolve?.(this.interruption);
      return;
    }
    if (this.#timeoutMs !== undefined) this.#arm();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#catchUp(); // an abort by the last synchronous step still counts
    this.#disposed = true;
    if (this.#listening && this.#onAbort !== undefined) {
      this.#external?.removeEventListener('abort', this.#onAbort);
      this.#listening = false;
    }
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** The listener on the external signal, made when the phase first listens. */
  #onAbort: (() => void) | undefined;

  #arm(): void {
    this.#timer = this.#clock.setTimer(
      (this.#onTimer ??= () => this.#timerFired()),
      this.#deadline - this.#clock.now(),
    );
  }

  #onTimer: (() => void) | undefined;

  #timerFired(): void {
    this.#timer = undefined;
    // Clocks may fire early (long delays are capped): re-arm until the deadline.
    if (this.#clock.now() < this.#deadline) {
      this.#arm();
      return;
    }
    const label = `${this.#errbacks ? 'errbacks of ' : ''}job ${this.#record.name} (${this.#record.id})`;
    const error = new TimeoutError(`${label} timed out after ${this.#timeoutMs} ms`);
    this.#interrupt({ type: 'timeout', error });
  }

  #reason(): unknown {
    const i = this.interruption;
    return i === undefined ? undefined : i.type === 'timeout' ? i.error : i.reason;
  }

  #interrupt(interruption: Interruption): void {
    if (this.interruption !== undefined) return;
    this.interruption = interruption;
    this.dispose();
    this.#resolve?.(interruption);
    // Last: abort listeners are user code and run synchronously.
    this.#stopped = true;
    this.#controller?.abort(this.#reason());
  }
}
