import { JobReactorError, ProtocolError } from '../../errors.ts';
import type { Clock, TimerHandle } from '../../model/clock.ts';
import type { Feedback } from '../../model/job.ts';
import type { JobStorage } from '../../storage/job-storage.ts';
import type { DistributorLink } from './distributor-link.ts';

/** How many unacknowledged feedbacks one distributor may have before the node holds back. */
export interface OutboxLimit {
  /** Over this many for one distributor, `onPressure(id, true)`. */
  cap: number;
  /** Back under this many (after acknowledgements), `onPressure(id, false)`. */
  low: number;
  onPressure(distributorId: string, over: boolean): void;
}

/** How long feedbacks wait for a distributor that stays away (see `expire`). */
export interface OutboxExpiry {
  /** Not connected for this long, ms: its feedbacks go. Infinity keeps them for ever. */
  maxAgeMs: number;
  clock: Clock;
  /** `count` feedbacks of `distributorId` were dropped (the node logs and counts it). */
  onExpired(distributorId: string, count: number): void;
}

/** Longest gap between two expiry sweeps, ms (a quarter of the age when that is shorter). */
const MAX_SWEEP_MS = 60_000;

/**
 * Feedbacks not yet acknowledged by their distributor. Sent at once when that distributor
 * is connected, resent whenever it (re)connects, dropped on its `fback`. With a durable
 * storage each one is written first, so a node that crashes still delivers it after a
 * restart.
 *
 * It also counts them per distributor: one that does not acknowledge would otherwise grow
 * the outbox without bound. At `limit.cap` the node is told (`onPressure`) so it stops
 * taking that distributor's jobs until `limit.low`; nothing of a connected distributor is
 * ever dropped. A distributor that stays away for `expiry.maxAgeMs` (an application
 * restarted with a new random id never comes back for its old one's feedbacks) loses its
 * feedbacks: without that, a durable store would keep up to `cap` of them per restart, for
 * ever.
 */
export class FeedbackOutbox {
  readonly #pending = new Map<string, Feedback>();
  readonly #linksById = new Map<string, DistributorLink>();
  readonly #counts = new Map<string, number>();
  /** Distributors at or over the cap, until they are back under the low mark. */
  readonly #over = new Set<string>();
  /** When each distributor that is owed feedbacks was last seen connected (see `expire`). */
  readonly #lastSeen = new Map<string, number>();
  #sweep: TimerHandle | undefined;
  #closed = false;
  /** Resends under way after a handshake: the keys to go, and how far they went. */
  readonly #resending = new Map<DistributorLink, { keys: string[]; at: number }>();

  constructor(
    private readonly storage: JobStorage,
    private readonly onStorageError: (err: unknown, key: string) => void,
    private readonly limit?: OutboxLimit,
    private readonly expiry?: OutboxExpiry,
  ) {}

  /** Starts the expiry sweeps (a timer, unref'd), once the outbox is restored. */
  start(): void {
    this.#arm();
  }

  /** Stops the sweeps (the node stops). */
  close(): void {
    this.#closed = true;
    if (this.#sweep !== undefined) this.expiry?.clock.clearTimer(this.#sweep);
    this.#sweep = undefined;
  }

  #arm(): void {
    const e = this.expiry;
    if (e === undefined || this.#closed || !Number.isFinite(e.maxAgeMs)) return;
    const every = Math.max(1, Math.min(e.maxAgeMs / 4, MAX_SWEEP_MS));
    this.#sweep = e.clock.setTimer(() => {
      this.#sweep = undefined;
      this.expire();
      this.#arm();
    }, every);
    this.#sweep.unref?.();
  }

  /**
   * Drops the feedbacks of every distributor not seen connected for `expiry.maxAgeMs`, and
   * returns how many went. Seen: connected at a sweep or at a handshake; one first owed
   * feedbacks between sweeps counts from the next sweep (nothing is timed per feedback),
   * so a feedback waits at least the age, at most one sweep more.
   */
  expire(): number {
    const e = this.expiry;
    if (e === undefined || !Number.isFinite(e.maxAgeMs)) return 0;
    const now = e.clock.now();
    const gone = new Set<string>();
    for (const id of this.#counts.keys()) {
      const seen = this.#lastSeen.get(id);
      if (seen === undefined || this.#linksById.get(id)?.ready === true) {
        this.#lastSeen.set(id, now);
      } else if (now - seen >= e.maxAgeMs) {
        gone.add(id);
      }
    }
    if (gone.size === 0) return 0;
    const keys: string[] = [];
    for (const [key, fb] of this.#pending) {
      if (!gone.has(fb.distributor)) continue;
      this.#pending.delete(key);
      keys.push(key);
    }
    for (const id of gone) {
      const n = this.#counts.get(id) ?? 0;
      this.#counts.delete(id);
      this.#lastSeen.delete(id);
      if (this.#over.delete(id)) this.limit?.onPressure(id, false);
      e.onExpired(id, n);
    }
    if (this.storage.durable) {
      this.storage.removeFeedback(keys).catch((err: unknown) => this.onStorageError(err, keys[0]!));
    }
    return keys.length;
  }

  /** Loads what a previous run of this node left unacknowledged. */
  async restore(): Promise<void> {
    for (const fb of await this.storage.listFeedbacks()) this.#add(fb);
  }

  /** True while `distributorId` is over the cap (and not yet back under the low mark). */
  over(distributorId: string | undefined): boolean {
    return this.#over.size > 0 && distributorId !== undefined && this.#over.has(distributorId);
  }

  /** Unacknowledged feedbacks for one distributor. */
  pendingFor(distributorId: string): number {
    return this.#counts.get(distributorId) ?? 0;
  }

  #add(fb: Feedback): void {
    const had = this.#pending.get(fb.key);
    this.#pending.set(fb.key, fb);
    if (had !== undefined) return; // the same key again (a resend, a replacement)
    const n = (this.#counts.get(fb.distributor) ?? 0) + 1;
    this.#counts.set(fb.distributor, n);
    if (this.limit && n >= this.limit.cap && !this.#over.has(fb.distributor)) {
      this.#over.add(fb.distributor);
      this.limit.onPressure(fb.distributor, true);
    }
  }

  #removed(distributor: string): void {
    const n = (this.#counts.get(distributor) ?? 1) - 1;
    if (n <= 0) {
      this.#counts.delete(distributor);
      this.#lastSeen.delete(distributor);
    } else this.#counts.set(distributor, n);
    if (this.limit && n <= this.limit.low && this.#over.delete(distributor)) {
      this.limit.onPressure(distributor, false);
    }
  }

  /**
   * A link finished its handshake: route its distributor's feedbacks to it and resend them,
   * as fast as the link takes them (`sendRoom`), going on from `room` once it drains: 800k
   * kept feedbacks made ~70 MB of frames in one turn.
   */
  linkReady(link: DistributorLink): void {
    const id = link.distributorId;
    if (!id) return;
    this.#linksById.set(id, link);
    if (this.#lastSeen.has(id) && this.expiry !== undefined) {
      this.#lastSeen.set(id, this.expiry.clock.now());
    }
    const keys: string[] = [];
    for (const [key, fb] of this.#pending) if (fb.distributor === id) keys.push(key);
    this.#resending.delete(link);
    if (keys.length > 0) this.#resend(link, { keys, at: 0 });
  }

  /** `link` drained after a burst: a resend that stopped for room goes on. */
  room(link: DistributorLink): void {
    const resend = this.#resending.get(link);
    if (resend !== undefined) this.#resend(link, resend);
  }

  #resend(link: DistributorLink, resend: { keys: string[]; at: number }): void {
    const { keys } = resend;
    // At least one per call, whatever the room: a feedback larger than it still goes.
    let first = true;
    while (resend.at < keys.length && link.ready && (first || link.sendRoom() > 0)) {
      first = false;
      const fb = this.#pending.get(keys[resend.at++]!);
      // Acknowledged (or expired) meanwhile: nothing to send.
      if (fb !== undefined && fb.distributor === link.distributorId) this.#send(link, fb);
    }
    if (resend.at < keys.length && link.ready) this.#resending.set(link, resend);
    else this.#resending.delete(link);
  }

  /**
   * `stored`: the storage already holds it (written with the job's outcome). A promise
   * only when it waits for a write first; otherwise it is sent at once (no promise per
   * feedback).
   */
  push(fb: Feedback, stored = false): Promise<void> | undefined {
    this.#add(fb);
    if (this.storage.durable && !stored) {
      return this.storage
        .saveFeedback(fb)
        .catch((err: unknown) => this.onStorageError(err, fb.key))
        .then(() => this.#sendNow(fb));
    }
    this.#sendNow(fb);
    return undefined;
  }

  #sendNow(fb: Feedback): void {
    const link = this.#linksById.get(fb.distributor);
    if (link) this.#send(link, fb);
  }

  /**
   * Sends one feedback. One that cannot be encoded (its args over the frame limit) takes
   * the place of an error feedback saying so, with the same key: the application gets a
   * typed error instead of a result that never comes (and the node no exception).
   */
  #send(link: DistributorLink, fb: Feedback): void {
    try {
      link.sendFeedback(fb);
    } catch (err) {
      const error = (
        err instanceof JobReactorError ? err : new ProtocolError(String(err), { cause: err })
      ).toInfo();
      const instead: Feedback = {
        key: fb.key,
        jobId: fb.jobId,
        distributor: fb.distributor,
        node: fb.node,
        outcome: 'error',
        final: fb.final,
        args: { error },
        error,
        attempt: fb.attempt,
      };
      this.#pending.set(fb.key, instead);
      link.sendFeedback(instead);
    }
  }

  /** The storage lost data: writes every pending feedback again (they are still owed). */
  async repersist(): Promise<void> {
    if (!this.storage.durable) return;
    await Promise.all(
      [...this.#pending.values()].map((fb) =>
        this.storage.saveFeedback(fb).catch((err: unknown) => this.onStorageError(err, fb.key)),
      ),
    );
  }

  /**
   * A distributor acknowledged these feedbacks: forget them (one storage call for all).
   * Only its own: a peer cannot acknowledge (and so drop) another distributor's feedbacks.
   */
  acked(keys: readonly string[], distributorId: string | undefined): void {
    const known: string[] = [];
    for (const key of keys) {
      const fb = this.#pending.get(key);
      if (fb === undefined || fb.distributor !== distributorId) continue;
      this.#pending.delete(key);
      known.push(key);
      this.#removed(fb.distributor);
    }
    if (known.length === 0 || !this.storage.durable) return;
    this.storage.removeFeedback(known).catch((err: unknown) => this.onStorageError(err, known[0]!));
  }

  /** True while some feedback could still reach a connected distributor. */
  get deliverable(): boolean {
    for (const fb of this.#pending.values())
      if (this.#linksById.get(fb.distributor)?.ready) return true;
    return false;
  }

  get size(): number {
    return this.#pending.size;
  }
}
