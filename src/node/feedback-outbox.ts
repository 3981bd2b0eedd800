import type { Feedback } from '../model/job.ts';
import type { JobStorage } from '../storage/job-storage.ts';
import type { DistributorLink } from './distributor-link.ts';

/**
 * Feedbacks not yet acknowledged by their distributor. Sent at once when that distributor
 * is connected, resent whenever it (re)connects, dropped on its `fback`. With a durable
 * storage each one is written first, so a node that crashes still delivers it after a
 * restart.
 */
export class FeedbackOutbox {
  readonly #pending = new Map<string, Feedback>();
  readonly #linksById = new Map<string, DistributorLink>();

  constructor(
    private readonly storage: JobStorage,
    private readonly onStorageError: (err: unknown, key: string) => void,
  ) {}

  /** Loads what a previous run of this node left unacknowledged. */
  async restore(): Promise<void> {
    for (const fb of await this.storage.listFeedbacks()) this.#pending.set(fb.key, fb);
  }

  /** A link finished its handshake: route its distributor's feedbacks to it and resend. */
  linkReady(link: DistributorLink): void {
    if (!link.distributorId) return;
    this.#linksById.set(link.distributorId, link);
    for (const fb of this.#pending.values()) {
      if (fb.distributor === link.distributorId) link.send({ t: 'feedback', fb });
    }
  }

  /** `stored`: the storage already holds it (written with the job's outcome). */
  async push(fb: Feedback, stored = false): Promise<void> {
    this.#pending.set(fb.key, fb);
    if (this.storage.durable && !stored) {
      await this.storage.saveFeedback(fb).catch((err: unknown) => this.onStorageError(err, fb.key));
    }
    this.#linksById.get(fb.distributor)?.send({ t: 'feedback', fb });
  }

  /** A distributor acknowledged these feedbacks: forget them (one storage call for all). */
  acked(keys: readonly string[]): void {
    const known = keys.filter((key) => this.#pending.delete(key));
    if (known.length === 0 || !this.storage.durable) return;
    this.storage
      .removeFeedback(...known)
      .catch((err: unknown) => this.onStorageError(err, known[0]!));
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
