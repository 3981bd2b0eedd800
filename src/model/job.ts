import type { ErrorInfo } from '../errors.ts';

/** Job arguments: a plain object of msgpack-encodable values. Mutated by the chain. */
export type JobArgs = Record<string, unknown>;

/**
 * A job's status on its node, as in JobReactor:
 * `new` → `in progress` → (`queued` | `error` | `complete` | `failed` | `cancelled`);
 * `queued` (periodic, waiting for its next slot) and `error` (retry pending) go back to
 * `in progress` when due.
 */
export const JobStatus = {
  New: 'new',
  InProgress: 'in progress',
  Queued: 'queued',
  Error: 'error',
  Complete: 'complete',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** Statuses after which a job never runs again. */
export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set([
  JobStatus.Complete,
  JobStatus.Failed,
  JobStatus.Cancelled,
]);

/**
 * A retry delay rule that can cross the wire. Function backoffs exist only on the node
 * (see the job definition's `backoff`), since code never travels.
 */
export type BackoffSpec =
  | { type: 'fixed'; delay: number }
  | { type: 'linear'; delay: number }
  | {
      type: 'exponential';
      /** Delay of the first retry, ms. */
      delay: number;
      /** Upper bound of any delay, ms. */
      maxDelay?: number;
      /** 0..1: fraction of the delay drawn at random ("full jitter" is 1). */
      jitter?: number;
    };

/**
 * What the distributor sends a node: the job as enqueued, with absolute times.
 * All times are epoch milliseconds; durations are milliseconds.
 */
export interface JobSpec {
  /** Unique, time-ordered id assigned by the distributor (or the caller's idempotency key). */
  id: string;
  name: string;
  args: JobArgs;
  /** Id of the distributor that enqueued it; feedbacks go back there. */
  distributor: string;
  enqueuedAt: number;
  /** When the first run is due. Equal to `enqueuedAt` (or earlier) for instant jobs. */
  runAt: number;
  /** Fixed-rate period, ms. */
  period?: number;
  /** Cron expression (instead of `period`). */
  cron?: string;
  /** IANA time zone for `cron`. */
  tz?: string;
  /** Attempts before the job fails for good. */
  maxAttempt?: number;
  /** JobReactor's linear rule: retry after attempt × retryMultiplier seconds. */
  retryMultiplier?: number;
  backoff?: BackoffSpec;
  /** Per-attempt timeout, ms. */
  timeout?: number;
  /** Run on the worker-thread pool. */
  defer?: boolean;
  /** 1 for the first dispatch; more when the distributor re-dispatched it after a node loss. */
  delivery: number;
}

/** A job as a node keeps it in its storage. */
export interface JobRecord extends JobSpec {
  /** The node that holds the job. */
  node: string;
  status: JobStatus;
  /** Attempts made in the current cycle (reset after each successful periodic run). */
  attempt: number;
  /** When the next attempt or run is due. */
  dueAt: number;
  /** Finished runs of a periodic job. */
  runs: number;
  startedAt?: number;
  failedAt?: number;
  lastError?: ErrorInfo;
  updatedAt: number;
}

export const FeedbackOutcome = {
  Success: 'success',
  Error: 'error',
  Cancelled: 'cancelled',
} as const;
export type FeedbackOutcome = (typeof FeedbackOutcome)[keyof typeof FeedbackOutcome];

/** A node's report to the distributor that enqueued a job. */
export interface Feedback {
  /** Deduplication key: the job id, plus the slot time for a periodic run. */
  key: string;
  jobId: string;
  distributor: string;
  node: string;
  outcome: FeedbackOutcome;
  /** True when the job will not run again (periodic runs send `final: false`). */
  final: boolean;
  args: JobArgs;
  error?: ErrorInfo;
  attempt: number;
  /** For cancel: true when the cancel came from an errback (JobReactor sends an error feedback then). */
  inErrback?: boolean;
  /** For cancel: true when the application cancelled it (`handle.cancel()`), not the job itself. */
  byApp?: boolean;
}
