import { StorageError } from '../errors.ts';

/**
 * What a storage knows about its lease on its node's name (pure: no Redis, no timers; the
 * times are passed in from the injected clock).
 *
 *   idle ──acquired──► held ──renewed──► held      (trusted until that renewal's start + TTL)
 *   held ──lost──► lost                            (another token holds the name)
 *   held ──vanished──► missing                     (the key was gone: data lost, or it
 *                                                   expired while the node was frozen)
 *   missing ──acquired──► held
 *   missing ──lost──► lost                         (someone else took the name meanwhile)
 *   idle | held | missing | lost ──released──► released (final)
 *
 * Trust is measured from when a renewal was *sent*, not answered: Redis started the key's
 * TTL no earlier than that, so the node stops trusting its lease no later than Redis
 * expires it, whatever the round trip took.
 */
export const LeaseStatus = {
  Idle: 'idle',
  Held: 'held',
  Missing: 'missing',
  Lost: 'lost',
  Released: 'released',
} as const;
export type LeaseStatus = (typeof LeaseStatus)[keyof typeof LeaseStatus];

export class LeaseState {
  readonly ttlMs: number;
  #status: LeaseStatus = LeaseStatus.Idle;
  /** Start of the last successful acquisition or renewal (clock ms). */
  #since = -Infinity;

  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  get status(): LeaseStatus {
    return this.#status;
  }

  /** Held, and the last renewal started less than one TTL before `now`. */
  trusted(now: number): boolean {
    return this.#status === LeaseStatus.Held && now < this.#since + this.ttlMs;
  }

  /** Until when the lease is trusted without another renewal (−Infinity when not held). */
  get trustedUntil(): number {
    return this.#status === LeaseStatus.Held ? this.#since + this.ttlMs : -Infinity;
  }

  /** The key was set to our token by a command sent at `sentAt`. */
  acquired(sentAt: number): void {
    this.#from([LeaseStatus.Idle, LeaseStatus.Missing], 'acquired');
    this.#since = sentAt;
    this.#setStatus(LeaseStatus.Held);
  }

  /** A renewal sent at `sentAt` found our token and extended it. */
  renewed(sentAt: number): void {
    this.#from([LeaseStatus.Held], 'renewed');
    this.#since = Math.max(this.#since, sentAt);
  }

  /** Another token holds the key. */
  lost(): void {
    this.#from([LeaseStatus.Held, LeaseStatus.Missing], 'lost');
    this.#setStatus(LeaseStatus.Lost);
  }

  /** The key is gone. */
  vanished(): void {
    this.#from([LeaseStatus.Held], 'vanished');
    this.#setStatus(LeaseStatus.Missing);
  }

  released(): void {
    this.#from(
      [LeaseStatus.Idle, LeaseStatus.Held, LeaseStatus.Missing, LeaseStatus.Lost],
      'released',
    );
    this.#setStatus(LeaseStatus.Released);
  }

  #from(allowed: readonly LeaseStatus[], transition: string): void {
    if (!allowed.includes(this.#status)) {
      throw new StorageError(`lease: illegal transition ${transition} from ${this.#status}`);
    }
  }

  #setStatus(next: LeaseStatus): void {
    this.#status = next;
  }
}
