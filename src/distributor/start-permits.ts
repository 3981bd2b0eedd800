import { InvalidArgumentError, ProtocolError } from '../errors.ts';
import { ArrayFifo } from '../model/array-fifo.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import { assertJobName } from '../model/names.ts';
import { idParts } from '../protocol/batch-frames.ts';
import { PERMIT_ASKS_IN_FLIGHT } from '../protocol/messages.ts';
import { RateLimiter, type RateLimit } from '../scheduling/rate-limiter.ts';
import type { NodeSession } from './node-session.ts';

interface Request {
  session: NodeSession;
  id: string;
}

/** One job name's limit and the starts waiting for it, first asked first granted. */
class NameGate {
  readonly limiter: RateLimiter;
  readonly queue = new ArrayFifo<Request>();
  timer: TimerHandle | undefined;

  constructor(limit: RateLimit, name: string) {
    this.limiter = new RateLimiter(limit, `limits['${name}']`);
  }
}

/**
 * The distributor's `limits`: caps on how many jobs of a name start per window across all
 * nodes. A node starts a job of a limited name only with a permit: it asks (`permits`),
 * and this grants (`granted`) in the order asked, at most `max` per `duration` ms per name
 * (a sliding window), arming one timer per name for when the window allows the next. A
 * granted job starts as soon as its node has a free slot. Requests of a node that leaves
 * are dropped (its jobs are re-sent, or asked for again when it reconnects).
 *
 * A node has at most PERMIT_ASKS_IN_FLIGHT requests out (it asks for more as grants come):
 * one that asks for more is refused with ProtocolError, so no peer grows these queues
 * without bound.
 */
export class StartPermits {
  readonly #gates = new Map<string, NameGate>();
  readonly #clock: Clock;
  /** Grants of this turn, per session: one `granted` frame each. */
  #grants = new Map<NodeSession, string[]>();
  #flushScheduled = false;
  /** Requests each session has out (asked, not yet granted). */
  readonly #asked = new Map<NodeSession, number>();

  constructor(limits: Readonly<Record<string, RateLimit>> | undefined, clock: Clock) {
    this.#clock = clock;
    if (limits === undefined) return;
    if (typeof limits !== 'object' || limits === null) {
      throw new InvalidArgumentError("limits must be an object: { 'job.name': { max, duration } }");
    }
    for (const [name, limit] of Object.entries(limits)) {
      assertJobName(name);
      this.#gates.set(name, new NameGate(limit, name));
    }
  }

  /** The limited names (told to each node as it connects); empty without `limits`. */
  get names(): string[] {
    return [...this.#gates.keys()];
  }

  /**
   * `session` asks to start jobs `ids` of `names`; granted now or when their window allows.
   * Returns ProtocolError (and queues nothing) when that would put it over
   * PERMIT_ASKS_IN_FLIGHT requests: the caller closes its link.
   */
  request(
    session: NodeSession,
    ids: readonly string[],
    names: readonly string[],
  ): ProtocolError | undefined {
    const asked = (this.#asked.get(session) ?? 0) + ids.length;
    if (asked > PERMIT_ASKS_IN_FLIGHT) {
      return new ProtocolError(
        `node ${session.name} asked for ${asked} start permits at once (at most ${PERMIT_ASKS_IN_FLIGHT})`,
      );
    }
    this.#asked.set(session, asked);
    for (let i = 0; i < ids.length; i++) {
      const gate = this.#gates.get(names[i]!);
      // A name we do not limit (a node's stale list): nothing to wait for.
      if (gate === undefined) this.#grant(session, ids[i]!);
      else gate.queue.push({ session, id: ids[i]! });
    }
    for (let i = 0; i < names.length; i++) {
      const gate = this.#gates.get(names[i]!);
      if (gate !== undefined) this.#drain(gate);
    }
    return undefined;
  }

  /** The session left: its waiting requests go (a reconnecting node asks again). */
  closed(session: NodeSession): void {
    for (const gate of this.#gates.values()) {
      if (gate.queue.size > 0) gate.queue.filter((r) => r.session !== session);
    }
    this.#grants.delete(session);
    this.#asked.delete(session);
  }

  /** Requests `session` has out (asked, not yet granted). */
  askedBy(session: NodeSession): number {
    return this.#asked.get(session) ?? 0;
  }

  /** Stops the timers (the distributor closes). */
  close(): void {
    for (const gate of this.#gates.values()) {
      if (gate.timer !== undefined) this.#clock.clearTimer(gate.timer);
      gate.timer = undefined;
      gate.queue.clear();
    }
    this.#grants.clear();
    this.#asked.clear();
  }

  #drain(gate: NameGate): void {
    const now = this.#clock.now();
    while (gate.queue.size > 0) {
      const wait = gate.limiter.wait(now);
      if (wait > 0) {
        gate.timer ??= this.#clock.setTimer(() => {
          gate.timer = undefined;
          this.#drain(gate);
        }, wait);
        break;
      }
      const r = gate.queue.shift()!;
      if (r.session.closed) continue; // it left: no start to count
      gate.limiter.take(now);
      this.#grant(r.session, r.id);
    }
  }

  #grant(session: NodeSession, id: string): void {
    const asked = this.#asked.get(session);
    if (asked !== undefined) {
      if (asked <= 1) this.#asked.delete(session);
      else this.#asked.set(session, asked - 1);
    }
    const list = this.#grants.get(session);
    if (list === undefined) this.#grants.set(session, [id]);
    else list.push(id);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      const grants = this.#grants;
      this.#grants = new Map();
      for (const [s, ids] of grants) {
        if (s.closed) continue;
        for (const part of idParts(ids, s.maxFrameSize)) s.send({ t: 'granted', ids: part });
      }
    });
  }
}
