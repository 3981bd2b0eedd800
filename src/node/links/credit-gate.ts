import type { DistributorLink } from './distributor-link.ts';
import type { LinkBatcher } from './link-batcher.ts';

/**
 * The credits a node owes its links, given back at once except to a link it holds back
 * (its distributor leaves too many feedbacks unacknowledged): those are counted and given
 * back together when the link is let go. Without credit a distributor sends no instant job.
 */
export class CreditGate {
  readonly #batcher: LinkBatcher;
  /** Credits withheld per closed link. Empty on the hot path: one size check per credit. */
  readonly #withheld = new Map<DistributorLink, number>();

  constructor(batcher: LinkBatcher) {
    this.#batcher = batcher;
  }

  give(link: DistributorLink): void {
    if (this.#withheld.size > 0) {
      const n = this.#withheld.get(link);
      if (n !== undefined) return void this.#withheld.set(link, n + 1);
    }
    this.#batcher.credit(link);
  }

  /** Holds back this link's credits from now on. */
  close(link: DistributorLink): void {
    if (!this.#withheld.has(link)) this.#withheld.set(link, 0);
  }

  /** Gives back what was held back, and credits flow again. */
  open(link: DistributorLink): void {
    const n = this.#withheld.get(link);
    this.#withheld.delete(link);
    if (n !== undefined && n > 0 && link.ready) this.#batcher.credit(link, n);
  }

  /** The link went down: its next session starts with the node's full capacity. */
  forget(link: DistributorLink): void {
    this.#withheld.delete(link);
  }
}
