import type { StatusMessage } from '../../protocol/messages.ts';
import type { DistributorLink } from './distributor-link.ts';
import type { JobRegistry } from '../definitions/job-registry.ts';

/**
 * What the node tells its distributors about itself, beyond the hello: whether it takes
 * jobs (not while its storage is down, and not from a distributor it holds back) and which
 * jobs it can run. A `status` goes to every link when either changes, and to a link that
 * connects while the node is paused for it (a fresh link assumes the node takes jobs).
 */
export class StatusAnnouncer {
  /** False while the storage is down: distributors are told to send nothing. */
  accepting = true;
  /** True while the node is paused (`node.pause()`): distributors are told to send nothing. */
  paused = false;
  /** Links held back on their own (their distributor leaves too many feedbacks unacknowledged). */
  readonly #held = new Set<DistributorLink>();
  #jobsChangePending = false;
  /**
   * Links that missed a change of the job list: still in their handshake (their hello was
   * built before it) or down. Told at their next `linkReady`.
   */
  readonly #missedJobs = new Set<DistributorLink>();
  readonly #links: readonly DistributorLink[];
  readonly #registry: Pick<JobRegistry, 'names'>;
  readonly #isRunning: () => boolean;

  constructor(
    links: readonly DistributorLink[],
    registry: Pick<JobRegistry, 'names'>,
    isRunning: () => boolean,
  ) {
    this.#links = links;
    this.#registry = registry;
    this.#isRunning = isRunning;
  }

  /**
   * A link finished its handshake: tell it at once if the node is paused for it. `held`:
   * whether it starts held back.
   */
  linkReady(link: DistributorLink, held = false): void {
    if (held) this.#held.add(link);
    else this.#held.delete(link);
    const missed = this.#missedJobs.delete(link);
    if (missed || !this.accepts(link)) link.send(this.#status(link));
  }

  /** Whether the node takes jobs from this link now. */
  accepts(link: DistributorLink): boolean {
    return this.accepting && !this.paused && (this.#held.size === 0 || !this.#held.has(link));
  }

  /** True while this link is held back on its own. */
  isHeld(link: DistributorLink): boolean {
    return this.#held.size > 0 && this.#held.has(link);
  }

  /** Holds one link back (`accepting: false` to it only) or lets it go; told if it changes. */
  hold(link: DistributorLink, held: boolean): void {
    if (held === this.#held.has(link)) return;
    if (held) this.#held.add(link);
    else this.#held.delete(link);
    // Only a change this link can see (a paused node stays paused for it).
    if (this.accepting && !this.paused && link.ready) link.send(this.#status(link));
  }

  /** Sends the current status to every link. */
  broadcast(): void {
    for (const link of this.#links) link.send(this.#status(link));
  }

  /**
   * Jobs were defined after the node connected: tell the distributors, once per turn
   * however many were defined, and only while the node is running.
   */
  jobsChanged(): void {
    if (this.#jobsChangePending) return;
    this.#jobsChangePending = true;
    queueMicrotask(() => {
      this.#jobsChangePending = false;
      if (!this.#isRunning()) return;
      // A link not ready drops it; its hello may predate the change: it hears at ready.
      for (const link of this.#links) {
        if (!link.send(this.#status(link))) this.#missedJobs.add(link);
      }
    });
  }

  #status(link: DistributorLink): StatusMessage {
    return { t: 'status', accepting: this.accepts(link), jobs: this.#registry.names() };
  }
}
