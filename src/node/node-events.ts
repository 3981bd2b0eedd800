import type { ErrorInfo, LeaseLostError, StorageError, StorageLostError } from '../errors.ts';
import type { JobRecord } from '../model/job.ts';

/** Events of a WorkerNode (`node.on(name, listener)`). */
export type NodeEvents = {
  'distributor:connected': [address: string, distributorId: string];
  'distributor:disconnected': [address: string, reason: Error | undefined];
  /** The distributor refused this node (wrong secret, other protocol version); the node keeps retrying. */
  'distributor:rejected': [address: string, error: ErrorInfo];
  /** `pause()` took effect: nothing starts until `resume()`. */
  'node:paused': [];
  'node:resumed': [];
  'job:start': [job: JobRecord];
  /** A running job reported progress (`ctx.progress()`). */
  'job:progress': [job: JobRecord, value: unknown];
  'job:success': [job: JobRecord];
  /** An attempt failed and another is scheduled. */
  'job:retry': [job: JobRecord, error: ErrorInfo];
  /** The last attempt failed. */
  'job:failed': [job: JobRecord, error: ErrorInfo];
  'job:cancelled': [job: JobRecord];
  /** A step of the job held the event loop for `ms` (over `blockWarnMs`) before it returned or awaited. */
  'job:blocked': [job: JobRecord, ms: number];
  /**
   * A distributor reached `maxPendingFeedbacks` unacknowledged feedbacks (`over`: the node
   * takes none of its jobs) or got back under half of it.
   */
  'distributor:backpressure': [distributorId: string, over: boolean, pending: number];
  /** The feedbacks of a distributor not connected for `feedbackMaxAge` were dropped. */
  'feedbacks:expired': [distributorId: string, count: number];
  'storage:error': [error: StorageError];
  /** The storage went away (false) or came back (true). */
  'storage:status': [up: boolean];
  /**
   * Durable storage: another live process took this node's name. The node runs none of
   * its jobs any more and takes no new ones; attempts already running finish, but their
   * writes are refused.
   */
  'lease:lost': [error: LeaseLostError];
  /** Durable storage: the jobs (and feedbacks) of dead node `from` were moved here. */
  'jobs:adopted': [from: string, jobs: number, feedbacks: number];
  /** Nodes died while running this job `maxDeliveries` times: it ends, not run again. */
  'job:quarantined': [job: JobRecord, error: ErrorInfo];
  /** The storage lost data (Redis restarted empty, FLUSHALL): `jobs` ended with StorageLostError. */
  'storage:lost': [error: StorageLostError, jobs: number];
  stopped: [];
};
