import type { ErrorInfo } from '../errors.ts';
import type { JobArgs, JobSpec } from '../model/job.ts';
import { LazyOutcome } from '../model/outcome.ts';
import type { Routing } from './enqueue-options.ts';
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

/** The distributor's record of one job until its final feedback. */
export class TrackedJob {
  state: TrackState = TrackState.Waiting;
  /** The node holding it (Sent/Accepted). */
  session: NodeSession | undefined;
  readonly accepted = new LazyOutcome<{ node: string }>();
  readonly result = new LazyOutcome<JobArgs>();
  /** Set while the distributor still needs the job to re-dispatch it (memory nodes). */
  keepSpec: boolean = true;
  /** The application called cancel(); if the holder vanishes, the job ends instead of moving. */
  cancelRequested = false;
  constructor(
    public spec: JobSpec,
    readonly routing: Routing,
    readonly instant: boolean,
    readonly onSuccess: SuccessFeedback | undefined,
    readonly onError: ErrorFeedback | undefined,
  ) {}
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
