import type { Feedback, JobRecord, JobStatus } from '../model/job.ts';

/**
 * Where a node keeps its jobs. Small on purpose: a new backend should be an afternoon's
 * work. Every implementation passes `test/conformance/job-storage.conformance.ts`.
 *
 * Contract:
 * - A storage is bound to one node by `open(node)`; every other call is scoped to it.
 * - `save` is an upsert by `id` and resolves only once the write is done (for a durable
 *   storage: acknowledged by the server). The node says "accepted" after it resolves.
 * - Returned records are copies: mutating one never changes what is stored.
 * - Failures reject with `StorageError`.
 */
export interface JobStorage {
  /** True when jobs survive a crash of the node process (Redis); false for memory. */
  readonly durable: boolean;
  /** Binds the storage to a node. Called once, before anything else. */
  open(node: string): Promise<void>;
  save(job: JobRecord): Promise<void>;
  load(id: string): Promise<JobRecord | undefined>;
  remove(id: string): Promise<void>;
  /** The node's jobs, optionally only those with the given statuses. Order unspecified. */
  list(filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]>;
  /** Keeps a feedback until its distributor acknowledges it (the outbox). Upsert by `key`. */
  saveFeedback(feedback: Feedback): Promise<void>;
  /** Drops acknowledged feedbacks (one call for a whole `fback` batch). */
  removeFeedback(...keys: string[]): Promise<void>;
  listFeedbacks(): Promise<Feedback[]>;
  close(): Promise<void>;
  /**
   * Optional: what an attempt ended with, in one round trip: `record` saved (or the job
   * removed when it is undefined) together with the feedback kept for its distributor,
   * the feedback first. A durable node then waits once per finished job instead of
   * twice; without it the node calls save/remove, then saveFeedback.
   */
  finish?(id: string, record: JobRecord | undefined, feedback: Feedback): Promise<void>;
  /**
   * Optional, for storages that can go away while the node runs (Redis): false while
   * writes cannot succeed. The node stops taking jobs meanwhile.
   */
  readonly available?: boolean;
  /** Optional: set by the node to hear when `available` changes. */
  onStatusChange?: ((up: boolean) => void) | undefined;
}
