import {
  InvalidArgumentError,
  JobCancelledError,
  JobFailedError,
  type ErrorInfo,
} from '../errors.ts';
import type { Feedback, JobArgs, JobSpec } from '../model/job.ts';
import { LazyOutcome } from '../model/outcome.ts';
import { encodeFrame } from '../protocol/codec.ts';
import { isInstant, type Routing } from './enqueue-options.ts';
import type { NodeSession } from './node-session.ts';

/** Facts passed to feedback callbacks along with the args. */
export interface FeedbackInfo {
  jobId: string;
  name: string;
  node: string;
  attempt: number;
  /** False for the runs of a periodic job that will run again. */
  final: boolean;
}

export type SuccessFeedback<A extends JobArgs = JobArgs> = (
  args: A & JobArgs,
  info: FeedbackInfo,
) => unknown;
export type ErrorFeedback<A extends JobArgs = JobArgs> = (
  args: A & JobArgs & { error: ErrorInfo },
  error: ErrorInfo,
  info: FeedbackInfo,
) => unknown;

/** Where a job is, as far as the distributor knows. */
export const TrackState = {
  /** In the waiting queue: no eligible node with room yet. */
  Waiting: 'waiting',
  /** Sent to a node that has not said "accepted" yet. */
  Sent: 'sent',
  /** Stored by a node. */
  Accepted: 'accepted',
  /** Final feedback processed (or cancelled before dispatch). */
  Done: 'done',
} as const;
export type TrackState = (typeof TrackState)[keyof typeof TrackState];

/** What the application holds for an enqueued job. */
export interface JobHandle<A extends JobArgs = JobArgs> {
  readonly id: string;
  /** Resolves when a node has stored the job (for a durable node: it now owns it). */
  readonly accepted: Promise<{ node: string }>;
  /** Resolves with the final args; rejects with JobFailedError, JobCancelledError or ShutdownError. */
  readonly result: Promise<A & JobArgs>;
  /** Cancels the job wherever it is. Resolves to whether something was cancelled. */
  cancel(): Promise<boolean>;
}

/**
 * `handle.accepted`: resolved with the accepting node's name, a string the session already
 * holds; the `{ node }` object is made only for a promise the application asks for.
 */
export class AcceptedOutcome extends LazyOutcome<{ node: string }, string> {
  protected override present(node: string): { node: string } {
    return { node };
  }
}

/**
 * The distributor's record of one job until its final feedback. A million of them may
 * wait at once: keep fields few (each is 8 bytes per job) and objects fewer.
 */
export class TrackedJob {
  state: TrackState = TrackState.Waiting;
  /** The node holding it (Sent/Accepted). */
  session: NodeSession | undefined;
  readonly accepted = new AcceptedOutcome();
  readonly result = new LazyOutcome<JobArgs>();
  /** The job message, encoded once at enqueue; dropped after sending (re-encoded if it moves). */
  frame: Buffer | undefined;
  /** The application called cancel(); if the holder vanishes, the job ends instead of moving. */
  cancelRequested = false;
  constructor(
    public spec: JobSpec,
    readonly routing: Routing,
    readonly onSuccess: SuccessFeedback | undefined,
    readonly onError: ErrorFeedback | undefined,
  ) {}

  /**
   * Whether the job took a run slot on arrival (so it used a node's credit), as it was at
   * enqueue. Derived, not stored: `spec` keeps the enqueue time and `runAt`.
   */
  get instant(): boolean {
    return isInstant(this.spec, this.spec.enqueuedAt);
  }
}

/** Runs an application callback; returns nothing and never throws (the caller reports failures). */
export type SafeCall = (jobId: string, fn: () => unknown) => void;

/**
 * Runs `fn`, sending a synchronous throw or an asynchronous rejection to `report`: an
 * application's feedback callback must never crash the distributor.
 */
export function callSafely(fn: () => unknown, report: (err: unknown) => void): void {
  try {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<unknown>).then(undefined, report);
    }
  } catch (err) {
    report(err);
  }
}

/** Applies a node's feedback: runs the matching callback and, when final, settles `result`. */
export function deliverFeedback(job: TrackedJob, fb: Feedback, call: SafeCall): void {
  const info: FeedbackInfo = {
    jobId: fb.jobId,
    name: job.spec.name,
    node: fb.node,
    attempt: fb.attempt,
    final: fb.final,
  };
  // JobReactor's rule: a job that cancels itself reports success, unless an errback did it.
  if (fb.outcome === 'success' || (fb.outcome === 'cancelled' && !fb.inErrback && !fb.byApp)) {
    call(fb.jobId, () => job.onSuccess?.(fb.args, info));
    if (fb.final) job.result.resolve(fb.args);
  } else if (fb.outcome === 'cancelled' && fb.byApp) {
    job.result.reject(new JobCancelledError(fb.jobId));
  } else {
    const error = fb.error ?? { name: 'Error', code: 'JR_ERR', message: 'job failed' };
    call(fb.jobId, () => job.onError?.({ ...fb.args, error }, error, info));
    if (fb.final) job.result.reject(new JobFailedError(fb.jobId, error, fb.args));
  }
}

/** Ends a job the distributor itself could not get run (unknown name, too large). */
export function failUndelivered(
  job: TrackedJob,
  error: ErrorInfo,
  node: string,
  call: SafeCall,
): void {
  const args = { ...job.spec.args, error };
  const info: FeedbackInfo = {
    jobId: job.spec.id,
    name: job.spec.name,
    node,
    attempt: 0,
    final: true,
  };
  job.accepted.reject(new JobFailedError(job.spec.id, error, args));
  call(job.spec.id, () => job.onError?.(args, error, info));
  job.result.reject(new JobFailedError(job.spec.id, error, args));
}

export function createHandle(
  job: TrackedJob,
  cancel: (job: TrackedJob) => Promise<boolean>,
): JobHandle {
  return {
    id: job.spec.id,
    get accepted() {
      return job.accepted.promise;
    },
    get result() {
      return job.result.promise;
    },
    cancel: () => cancel(job),
  };
}

/**
 * A new job to track, its callbacks checked and its message encoded now: bad args (not
 * plain data) or a job over `maxFrameSize` throw in the caller's stack, not later at
 * dispatch, and the frame is reused for the send.
 */
export function trackJob(
  spec: JobSpec,
  routing: Routing,
  onSuccess: SuccessFeedback | undefined,
  onError: ErrorFeedback | undefined,
  maxFrameSize: number,
): TrackedJob {
  if (onSuccess !== undefined && typeof onSuccess !== 'function') {
    throw new InvalidArgumentError('onSuccess must be a function');
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new InvalidArgumentError('onError must be a function');
  }
  const frame = encodeFrame({ t: 'job', job: spec }, maxFrameSize);
  const tracked = new TrackedJob(spec, routing, onSuccess, onError);
  tracked.frame = frame;
  return tracked;
}
