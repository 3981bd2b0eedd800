import { JobReactorError, ProtocolError } from '../errors.ts';
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
    for (const fb of [...this.#pending.values()]) {
      if (fb.distributor === link.distributorId) this.#send(link, fb);
    }
  }

  /** `stored`: the storage already holds it (written with the job's outcome). */
  async push(fb: Feedback, stored = false): Promise<void> {
    this.#pending.set(fb.key, fb);
    if (this.storage.durable && !stored) {
      await this.storage.saveFeedback(fb).catch((err: unknown) => this.onStorageError(err, fb.key));
    }
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
      link.send({ t: 'feedback', fb });
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
      link.send({ t: 'feedback', fb: instead });
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
