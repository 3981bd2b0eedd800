import type { Feedback, JobRecord, JobStatus } from '../model/job.ts';

/**
 * What a storage with a lease on the node's name (Redis) tells the node that owns it, and
 * asks of it. Set as {@link JobStorage.owner} before `open`. Hooks must not throw.
 */
export interface StorageOwner {
  /** The owning process's instance id (written into the lease for log lines). */
  readonly instance: string;
  /** Whether the node defines jobs of this name: only those are adopted from dead nodes. */
  accepts(name: string): boolean;
  /** A renewal succeeded: the lease is trusted again. */
  renewed(): void;
  /**
   * Another live process holds the name now: this node no longer owns its jobs. Their
   * writes are refused (LeaseLostError) from here on.
   */
  lost(holder: string): void;
  /**
   * The lease key was gone and has been taken again, or (Redis Cluster) another server
   * serves the node's slot after a failover. `dataLost`: Redis lost data (it restarted
   * empty, was flushed, or failed over to a replica that lagged); otherwise the lease expired while the node was
   * frozen or cut off, and a peer may have adopted some of its jobs. Either way the node
   * checks its jobs against what is stored.
   */
  vanished(dataLost: boolean): void;
  /** Jobs and unacknowledged feedbacks moved here from dead node `from`. */
  adopted(from: string, records: JobRecord[], feedbacks: Feedback[]): void;
  /** Optional: a takeover scan failed (it is tried again on the next tick). */
  adoptionFailed?(err: unknown): void;
  /**
   * Optional: `open` cannot reach the storage's server yet and keeps trying until its
   * connect timeout (`message` says why and for how long). Told at the first failed try,
   * then at most once a second: an operator sees what the node waits for.
   */
  unreachable?(message: string): void;
}

/**
 * Where a node keeps its jobs. Small on purpose: a new backend should be an afternoon's
 * work. Every implementation passes `test/conformance/job-storage.conformance.ts`.
 *
 * Contract:
 * - A storage is bound to one node by `open(node)`; every other call is scoped to it.
 * - `save` is an upsert by `id` and resolves only once the write is done (for a durable
 *   storage: acknowledged by the server). The node says "accepted" after it resolves.
 * - Returned records are copies: mutating one never changes what is stored.
 * - Failures reject with `StorageError`. A storage with a lease (Redis) rejects every
 *   write with `LeaseLostError` once another process holds the node's name (fencing).
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
  /**
   * Drops acknowledged feedbacks (one call for a whole `fback` batch). An array, not rest
   * arguments: a batch can hold more keys than a call can take as arguments.
   */
  removeFeedback(keys: readonly string[]): Promise<void>;
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
   * Optional: true for a durable storage that cannot lose jobs while the node runs (a local
   * store: LMDB), so the node keeps no index of the ids it holds for a reconcile after a
   * data loss (see StorageOwner.vanished). Absent: the node keeps one (Redis can restart
   * empty, be flushed, or fail over).
   */
  readonly keepsData?: boolean;
  /**
   * Optional: records that an attempt of a job this storage holds is about to start (the
   * record as `markStarted` in job-lifecycle.ts left it: status `in progress`, the next
   * attempt, its start time), and resolves once that survives a crash of this process,
   * which is all the node's crash accounting needs (a job found `in progress` at restart
   * counts a crash). A storage whose `save` waits for a disk flush can resolve sooner;
   * LMDB keeps such marks apart from the records, one file write each, with no
   * transaction (lmdb-starts.ts). Without it the node calls `save`.
   */
  markStarted?(job: JobRecord): Promise<void>;
  /**
   * Optional, for storages that can go away while the node runs (Redis): false while
   * writes cannot succeed. The node stops taking jobs meanwhile.
   */
  readonly available?: boolean;
  /** Optional: set by the node to hear when `available` changes. */
  onStatusChange?: ((up: boolean) => void) | undefined;
  /**
   * Optional, for storages that hold a lease on the node's name (Redis): false while the
   * node cannot be sure it still owns its jobs (no renewal succeeded for a lease TTL, or
   * the lease is lost). The node starts no attempt meanwhile. Absent: always owned.
   */
  readonly leaseValid?: boolean;
  /** Optional: set by the node before `open` to take part in lease and takeover events. */
  owner?: StorageOwner | undefined;
}
