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
  /** Order among waiting jobs, 1 the highest; none goes first (see EnqueueOptions.priority). */
  priority?: number;
  /** A recurring job's most runs. */
  limit?: number;
  /** A recurring job runs no slot after this time, epoch ms. */
  endAt?: number;
  /** 1 for the first dispatch; more when the distributor re-dispatched it after a node loss. */
  delivery: number;
  /**
   * Set for a job that may run only on the node it was sent to (`strictNode`): a durable
   * node's jobs are adopted by another node when it dies, except these.
   */
  pinned?: boolean;
  /**
   * Times a node crashed or froze while running this job (poison-job accounting); after
   * `maxDeliveries` it is quarantined.
   */
  crashes?: number;
  /** The nodes that crashed or froze while running it, oldest first. */
  crashedOn?: string[];
  /** Finished runs of a periodic or cron job so far (a re-dispatched job carries on from them). */
  runs?: number;
  /**
   * Attempts already made in the current cycle, for a job re-dispatched while a retry waited
   * on the lost node: it carries on (its next attempt is `attempt + 1`, within `maxAttempt`).
   */
  attempt?: number;
  /**
   * Set when the caller chose the id (`enqueue`'s `id`): unique per enqueue, so the
   * feedbacks of a job whose id is reused after it finished are told apart from the old ones.
   */
  nonce?: string;
  /**
   * The trace context of the enqueue (an OpenTelemetry propagator's text map: W3C
   * `traceparent`, `tracestate`), set when the distributor's `tracing` is on and the
   * enqueue span is sampled; the node's attempt spans continue that trace. See
   * protocol/trace-carrier.ts for its bounds.
   */
  trace?: Record<string, string>;
}

/** A job as a node keeps it in its storage. */
export interface JobRecord extends Omit<JobSpec, 'runs'> {
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
  /** The last value the job reported with `ctx.progress()`, kept with a finished job. */
  progress?: unknown;
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
  /**
   * For a run of a recurring job that will run again: when the next run is due and how many
   * runs are done, so a distributor that has to re-dispatch the job resumes it from here
   * (args, run count, time grid), never from its original args.
   */
  next?: number;
  runs?: number;
}

/**
 * Keys the runner itself writes into args during an attempt. A node that keeps an
 * attempt's args for a later run (periodic jobs) strips them first, so they never leak
 * into the next run (JobReactor's W22); so does a distributor that keeps them to resume a
 * periodic job elsewhere.
 */
export const ATTEMPT_ARG_KEYS = ['jobItself', 'error', 'errbackError', 'returnValue'] as const;

/**
 * `args` without the keys the runner writes (`ATTEMPT_ARG_KEYS`): a shallow copy, or `args`
 * itself when it has none of them (the common case, on every finished job).
 */
export function stripAttemptKeys(args: JobArgs): JobArgs {
  let found = false;
  for (const key of ATTEMPT_ARG_KEYS) {
    if (key in args) {
      found = true; // a loop rather than some(): no closure per job
      break;
    }
  }
  if (!found) return args;
  const copy = { ...args };
  for (const key of ATTEMPT_ARG_KEYS) delete copy[key];
  return copy;
}

/**
 * The part of a feedback key that names one enqueued job: its id, with the nonce of a
 * caller-chosen id (so a reused id's feedbacks are not taken for the old job's). A
 * recurring job's run adds `@slot`.
 */
export function feedbackKeyBase(job: Pick<JobSpec, 'id' | 'nonce'>): string {
  return job.nonce === undefined ? job.id : `${job.id}~${job.nonce}`;
}

/**
 * Notes on `record` (mutated) that `node` died while running it: `crashes + 1`, `node`
 * appended to `crashedOn`. Poison accounting for a record found `in progress` at resume
 * or adoption.
 */
export function recordCrash(record: JobRecord, node: string): void {
  record.crashes = (record.crashes ?? 0) + 1;
  record.crashedOn = [...(record.crashedOn ?? []), node];
}
