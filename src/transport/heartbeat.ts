import type { Clock, TimerHandle } from '../model/clock.ts';

const HeartbeatState = { Idle: 'idle', Running: 'running', Stopped: 'stopped' } as const;
type HeartbeatState = (typeof HeartbeatState)[keyof typeof HeartbeatState];

export interface HeartbeatOptions {
  clock: Clock;
  /** Send a ping when nothing was sent for this long, ms. */
  intervalMs: number;
  /** Give up on the peer when nothing was received for this long, ms. */
  timeoutMs: number;
  sendPing(): void;
  onTimeout(silentMs: number): void;
  /**
   * Runs on every tick while running (at least once per `intervalMs`), after the checks.
   * `late`: the tick fired over half an interval late (or is the recheck after such a
   * tick): this process's own loop was blocked meanwhile, so nothing could be written or
   * read in that time.
   */
  onTick?(now: number, late: boolean): void;
}

/**
 * Liveness for one link on a single re-armed timer. `sent()` and `received()` only record a
 * time (they run on every write and every read), and the timer wakes at the earlier of "ping
 * due" and "peer overdue", so a busy link costs one timer callback per interval, not one per
 * message.
 *
 * States: idle → running (start) → stopped (stop or timeout; terminal).
 */
export class Heartbeat {
  readonly #opts: HeartbeatOptions;
  #lastSent = 0;
  #lastReceived = 0;
  #timer: TimerHandle | null = null;
  /** When the armed timer is due (clock time): how late it fires tells a blocked loop. */
  #dueAt = 0;
  /** A late tick found the peer overdue and gave the unread socket one turn first. */
  #rechecking = false;
  #state: HeartbeatState = HeartbeatState.Idle;

  constructor(opts: HeartbeatOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (this.#state !== HeartbeatState.Idle) return;
    this.#setState(HeartbeatState.Running);
    const now = this.#opts.clock.now();
    this.#lastSent = now;
    this.#lastReceived = now;
    this.#arm(Math.min(this.#opts.intervalMs, this.#opts.timeoutMs));
  }

  sent(): void {
    this.#lastSent = this.#opts.clock.now();
  }

  received(): void {
    this.#lastReceived = this.#opts.clock.now();
  }

  /** How long nothing was received, ms (by this heartbeat's clock). */
  silentFor(): number {
    return this.#opts.clock.now() - this.#lastReceived;
  }

  stop(): void {
    this.#setState(HeartbeatState.Stopped);
    if (this.#timer !== null) {
      this.#opts.clock.clearTimer(this.#timer);
      this.#timer = null;
    }
  }

  #setState(next: HeartbeatState): void {
    this.#state = next;
  }

  #arm(ms: number): void {
    // At least 1 ms: a timer that fires early must not turn into a busy loop.
    this.#dueAt = this.#opts.clock.now() + Math.max(1, ms);
    this.#timer = this.#opts.clock.setTimer(() => this.#tick(), Math.max(1, ms));
    this.#timer.unref?.();
  }

  #tick(): void {
    this.#timer = null;
    if (this.#state !== HeartbeatState.Running) return;
    const { clock, intervalMs, timeoutMs } = this.#opts;
    const now = clock.now();
    const silent = now - this.#lastReceived;
    const late = now - this.#dueAt > intervalMs / 2;
    if (silent >= timeoutMs && !this.#rechecking && late) {
      // The timer fired late: this process's own loop was blocked (a long synchronous call,
      // SIGSTOP), and the peer's frames may be sitting unread in the socket. Timers run
      // before the loop polls sockets, so judge after one poll: a 1 ms timer set here
      // fires after it. (An `enqueueMany` of 1M jobs blocked a distributor for 4 s and it
      // dropped every node, which had been sending all along.)
      this.#rechecking = true;
      this.#arm(1);
      return;
    }
    const recheck = this.#rechecking;
    this.#rechecking = false;
    if (silent >= timeoutMs) {
      this.stop();
      this.#opts.onTimeout(silent);
      return;
    }
    if (now - this.#lastSent >= intervalMs) {
      this.#lastSent = now;
      this.#opts.sendPing();
      if (this.#state !== HeartbeatState.Running) return;
    }
    if (this.#opts.onTick !== undefined) {
      this.#opts.onTick(now, late || recheck);
      if (this.#state !== HeartbeatState.Running) return;
    }
    const next = Math.min(this.#lastSent + intervalMs, this.#lastReceived + timeoutMs);
    this.#arm(next - now);
  }
}
