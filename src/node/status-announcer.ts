import type { StatusMessage } from '../protocol/messages.ts';
import type { DistributorLink } from './distributor-link.ts';
import type { JobRegistry } from './job-registry.ts';

/**
 * What the node tells its distributors about itself, beyond the hello: whether it takes
 * jobs (not while its storage is down) and which jobs it can run. A `status` goes to every
 * link when either changes, and to a link that connects while the node is paused (a fresh
 * link assumes the node takes jobs).
 */
export class StatusAnnouncer {
  /** False while the storage is down: distributors are told to send nothing. */
  accepting = true;
  #jobsChangePending = false;
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

  /** A link finished its handshake: tell it at once if the node is paused. */
  linkReady(link: DistributorLink): void {
    if (!this.accepting) link.send(this.#status());
  }

  /** Sends the current status to every link. */
  broadcast(): void {
    for (const link of this.#links) link.send(this.#status());
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
      if (this.#isRunning()) this.broadcast();
    });
  }

  #status(): StatusMessage {
    return { t: 'status', accepting: this.accepting, jobs: this.#registry.names() };
  }
}
