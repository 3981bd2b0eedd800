import type { DistributorLink } from './distributor-link.ts';

/**
 * The credits a node owes back: one per instant job from its arrival until its first
 * attempt ends, to the link it came on, with a count per link. A distributor that keeps to
 * its credit never has more than the node's capacity outstanding; one that ignores it (a
 * flood of instant jobs) shows here first, before its jobs have produced any feedback.
 */
export class OwedCredits {
  readonly #byJob = new Map<string, DistributorLink>();
  readonly #perLink = new Map<DistributorLink, number>();

  has(id: string): boolean {
    return this.#byJob.has(id);
  }

  /** Credits `link`'s distributor has out with this node (instant jobs not yet run once). */
  owedTo(link: DistributorLink): number {
    return this.#perLink.get(link) ?? 0;
  }

  /** Job `id` came on `link` (or its credit now belongs to `link`, a re-sent copy). */
  owe(id: string, link: DistributorLink): void {
    const before = this.#byJob.get(id);
    if (before === link) return;
    if (before !== undefined) this.#count(before, -1);
    this.#byJob.set(id, link);
    this.#count(link, 1);
  }

  /** The credit for job `id` is due now: the link it goes to, or undefined if none is owed. */
  take(id: string): DistributorLink | undefined {
    const link = this.#byJob.get(id);
    if (link === undefined) return undefined;
    this.#byJob.delete(id);
    this.#count(link, -1);
    return link;
  }

  #count(link: DistributorLink, d: number): void {
    const n = (this.#perLink.get(link) ?? 0) + d;
    if (n <= 0) this.#perLink.delete(link);
    else this.#perLink.set(link, n);
  }
}
