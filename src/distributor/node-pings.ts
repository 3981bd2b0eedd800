import { ConnectionError, TimeoutError } from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import type { NodeSession } from './node-session.ts';

interface Waiting {
  session: NodeSession;
  sentAt: number;
  resolve(ms: number): void;
  reject(err: Error): void;
  timer: TimerHandle;
  unwatch(): void;
}

/**
 * Measured round trips to nodes (`distributor.ping(name)`): a `ping` with an id, answered
 * by the node's transport with a `pong` carrying the same id. The answer is written by the
 * node's event loop, so the time also shows how long that loop takes to get to its I/O.
 */
export class NodePings {
  readonly #clock: Clock;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Resolves with the round trip in ms; rejects on timeout or when the link closes. */
  ping(session: NodeSession, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const id = this.#nextId++;
      const done = () => this.#take(id);
      const timer = this.#clock.setTimer(() => {
        done()?.reject(new TimeoutError(`node ${session.name} sent no pong in ${timeoutMs} ms`));
      }, timeoutMs);
      const unwatch = session.connection.onClose(() => {
        done()?.reject(new ConnectionError(`node ${session.name} left before answering a ping`));
      });
      this.#waiting.set(id, {
        session,
        sentAt: this.#clock.now(),
        resolve,
        reject,
        timer,
        unwatch,
      });
      session.send({ t: 'ping', id });
    });
  }

  /** A pong with an id came from `session` (ids it was not asked for are ignored). */
  answered(session: NodeSession, id: number | undefined): void {
    if (id === undefined || this.#waiting.get(id)?.session !== session) return;
    const w = this.#take(id)!;
    w.resolve(this.#clock.now() - w.sentAt);
  }

  #take(id: number): Waiting | undefined {
    const w = this.#waiting.get(id);
    if (!w) return undefined;
    this.#waiting.delete(id);
    this.#clock.clearTimer(w.timer);
    w.unwatch();
    return w;
  }
}
