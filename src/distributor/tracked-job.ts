import {
  IllegalTransitionError,
  InvalidArgumentError,
  JobCancelledError,
  JobFailedError,
  PoisonJobError,
  type ErrorInfo,
} from '../errors.ts';
import { stripAttemptKeys, type Feedback, type JobArgs, type JobSpec } from '../model/job.ts';
import { LazyOutcome } from '../model/outcome.ts';
import { encodeJobItem } from '../protocol/batch-frames.ts';
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
  /** A period or cron job's runs so far (with `final`: its last run, `limit` or `endAt` reached). */
  runs?: number;
}

export type SuccessFeedback<A extends object = JobArgs> = (
  args: A & JobArgs,
  info: FeedbackInfo,
) => unknown;
export type ErrorFeedback<A extends object = JobArgs> = (
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

/**
 * `handle.accepted`: resolved with the accepting node's name, a string the session already
 * holds; the `{ node }` object is made only for a promise the application asks for.
 */
export class AcceptedOutcome extends LazyOutcome<{ node: string }, string> {
  protected override present(node: string): { node: string } {
    return { node };
  }
}

/** A module function, not a private method: a private method would add a slot to a million jobs. */
function expect(state: TrackState, from: TrackState, what: string): void {
  if (state !== from) throw illegal(what, state);
}

function illegal(what: string, from: TrackState): IllegalTransitionError {
  return new IllegalTransitionError(`illegal job transition: ${what} from ${from}`);
}

/** What became of a job taken back from a node that left. */
export type TakeBack = 'requeued' | 'cancelled' | 'quarantined';

/**
 * The distributor's record of one job until its final feedback, and the one owner of its
 * state and its promises: every change goes through a transition method below, which
 * checks the state it starts from (an illegal one throws IllegalTransitionError).
 *
 * ```
 * waiting ──dispatch──► sent ──accept──► accepted ──finish (final feedback)──► done
 *    ▲                   │ │                │
 *    └──── refused ──────┘ └── takeBack ────┘  (node left: requeued, delivery + 1;
 *                                               quarantined after maxDeliveries crashes;
 *                                               cancelled if the app asked)
 * waiting ──cancelWaiting / failUndelivered──► done;  any ──shutdown──► done
 * ```
 *
 * A million of them may wait at once: keep fields few (each is 8 bytes per job) and
 * objects fewer.
 */
export class TrackedJob {
  #state: TrackState = TrackState.Waiting;
  /** The node holding it (sent/accepted). */
  #session: NodeSession | undefined;
  readonly accepted = new AcceptedOutcome();
  readonly result = new LazyOutcome<JobArgs>();
  /** The job as a `jobs` frame item, encoded once at enqueue; dropped after sending (re-encoded if it moves). */
  item: Buffer | undefined;
  /**
   * Its slot number in a waiting queue's FIFO, written only by that FIFO (WaitingQueue), which
   * checks it by identity: a stale value, once the job left, is harmless.
   */
  waitSlot = -1;
  #cancelRequested = false;
  /**
   * Whether an attempt may be running on its node now: a crash of that node counts
   * against the job only then (poison accounting). The node tells every start (`runs`),
   * written to its socket before the job runs, and every end without a feedback.
   */
  #running = false;
  /**
   * Bytes this job counts in its session's prefetch window (`unstartedBytes`): an instant
   * job from its dispatch until it starts or leaves the node; 0 otherwise.
   */
  #windowBytes = 0;
  /** Attempts made in the current cycle, as the node last said (a retry waits there). */
  #attempts = 0;
  #spec: JobSpec;
  constructor(
    spec: JobSpec,
    readonly routing: Routing,
    readonly onSuccess: SuccessFeedback | undefined,
    readonly onError: ErrorFeedback | undefined,
  ) {
    this.#spec = spec;
  }

  /** The job as the next node will get it (delivery, crash count, where a recurring job stands). */
  get spec(): JobSpec {
    return this.#spec;
  }

  get state(): TrackState {
    return this.#state;
  }

  get session(): NodeSession | undefined {
    return this.#session;
  }

  get done(): boolean {
    return this.#state === TrackState.Done;
  }

  /** The application called cancel(); if the holder vanishes, the job ends instead of moving. */
  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Whether the job took a run slot on arrival (so it used a node's credit), as it was at
   * enqueue. Derived, not stored: `spec` keeps the enqueue time and `runAt`.
   */
  get instant(): boolean {
    return isInstant(this.spec, this.spec.enqueuedAt);
  }

  /** waiting → sent: the job went to `session` (`bytes`: its encoded size, for an instant job's window). */
  dispatch(session: NodeSession, instant: boolean, bytes: number): void {
    expect(this.#state, TrackState.Waiting, 'dispatch');
    this.#state = TrackState.Sent;
    this.#session = session;
    this.item = undefined;
    this.#running = false;
    if (instant) {
      this.#windowBytes = bytes;
      session.unstartedBytes += bytes;
    }
  }

  /** The job no longer counts in its session's prefetch window (it started, or left the node). */
  static #leaveWindow(job: TrackedJob): void {
    if (job.#windowBytes === 0) return;
    if (job.#session !== undefined) job.#session.unstartedBytes -= job.#windowBytes;
    job.#windowBytes = 0;
  }

  /** sent → accepted: `session` stored it. False (nothing changes) for another node's or a late answer. */
  accept(session: NodeSession): boolean {
    if (this.#state !== TrackState.Sent || this.#session !== session) return false;
    this.#state = TrackState.Accepted;
    this.accepted.resolve(session.name);
    return true;
  }

  /** sent → waiting: the node refused it (stopping, storage down); it is sent again as it was. */
  refused(): void {
    expect(this.#state, TrackState.Sent, 'refused');
    TrackedJob.#leaveWindow(this);
    this.#state = TrackState.Waiting;
    this.#session = undefined;
    this.#running = false;
  }

  /**
   * The node says an attempt started (true) or ended without a feedback (false), with the
   * attempts made so far in this cycle.
   */
  noteRun(running: boolean, attempts?: number): void {
    if (this.#state === TrackState.Sent || this.#state === TrackState.Accepted) {
      TrackedJob.#leaveWindow(this);
      this.#running = running;
      if (attempts !== undefined) this.#attempts = attempts;
    }
  }

  /**
   * sent | accepted → waiting, cancelled or quarantined: its node left. A job that was
   * running there counts a crash of that node against it; at `maxDeliveries` crashes it is
   * quarantined (final error, never sent again). Otherwise it waits to be sent again with
   * `delivery + 1`, resuming from its last completed run.
   */
  takeBack(maxDeliveries: number, call: SafeCall): TakeBack {
    if (this.#state !== TrackState.Sent && this.#state !== TrackState.Accepted) {
      throw illegal('takeBack', this.#state);
    }
    const node = this.#session?.name ?? '';
    TrackedJob.#leaveWindow(this);
    this.#session = undefined;
    if (this.#cancelRequested) {
      this.#state = TrackState.Done;
      this.accepted.reject(new JobCancelledError(this.spec.id));
      this.result.reject(new JobCancelledError(this.spec.id));
      return 'cancelled';
    }
    const spec: JobSpec = { ...this.spec, delivery: this.spec.delivery + 1 };
    // A retry that waited on the lost node carries on; one cut short by the crash counts.
    const attempts = this.#attempts + (this.#running ? 1 : 0);
    if (attempts > 0) spec.attempt = attempts;
    else delete spec.attempt;
    this.#attempts = 0;
    if (this.#running) {
      spec.crashes = (this.spec.crashes ?? 0) + 1;
      spec.crashedOn = [...(this.spec.crashedOn ?? []), node];
    }
    this.#spec = spec;
    this.item = undefined;
    this.#running = false;
    if ((spec.crashes ?? 0) >= maxDeliveries) {
      const nodes = spec.crashedOn ?? [];
      const error = new PoisonJobError(
        `job ${spec.id} (${spec.name}) was running on a node that crashed or froze ${spec.crashes} times (${nodes.join(', ')}): quarantined, not sent again`,
      ).toInfo();
      error.details = { nodes };
      this.#state = TrackState.Waiting; // failUndelivered ends it from here
      this.failUndelivered(error, node, call);
      return 'quarantined';
    }
    this.#state = TrackState.Waiting;
    return 'requeued';
  }

  /**
   * Whether a feedback from `from` is this job's to take. A final one always is (the job
   * ran; the first final feedback wins and other copies are stopped). A run of a recurring
   * job that will run again is not when the job has moved to another node meanwhile: a
   * memory node that froze, was given up on and woke, finishing a run the new holder will
   * run from the same state. Taking both would report that run twice.
   */
  takes(fb: Feedback, from: NodeSession): boolean {
    if (fb.final) return true;
    const holder = this.#session;
    return holder === undefined || holder === from || holder.durable;
  }

  /**
   * A feedback from the node: the application's callback runs; a final one ends the job
   * and settles `result`; `accepted` resolves now if it had not (see below). A run of a
   * recurring job that will run again leaves it where it is, but remembers its args, run
   * count and next slot, so a re-dispatch resumes it from there (only for holders that
   * cannot keep it themselves: memory nodes).
   */
  deliver(fb: Feedback, call: SafeCall): void {
    if (this.#state === TrackState.Done) throw illegal('deliver', this.#state);
    TrackedJob.#leaveWindow(this);
    // A node ran it, so a node took it, whether or not its "accepted" got here (it is lost
    // with a link cut right after it left; the feedback comes again from the outbox, or
    // from the node the job went to next): `accepted` never stays pending past this.
    this.accepted.resolve(fb.node);
    if (fb.final) {
      this.#state = TrackState.Done;
      this.#session = undefined;
    } else {
      this.#running = false;
      this.#attempts = 0;
      if (fb.next !== undefined && !this.#session?.durable) {
        const spec: JobSpec = { ...this.spec, args: stripAttemptKeys(fb.args), runAt: fb.next };
        if (fb.runs !== undefined) spec.runs = fb.runs;
        this.#spec = spec;
        this.item = undefined;
      }
    }
    deliverFeedback(this, fb, call);
  }

  /** The application asked to cancel a job a node holds (the node is asked; see takeBack). */
  requestCancel(): void {
    if (this.#state === TrackState.Done || this.#state === TrackState.Waiting) {
      throw illegal('requestCancel', this.#state);
    }
    this.#cancelRequested = true;
  }

  /** waiting → done: cancelled before any node had it (or with an already-aborted signal). */
  cancelWaiting(): void {
    expect(this.#state, TrackState.Waiting, 'cancelWaiting');
    this.#state = TrackState.Done;
    const error = new JobCancelledError(this.spec.id);
    this.accepted.reject(error);
    this.result.reject(error);
  }

  /** waiting | sent → done: the distributor itself could not get it run (unknown name, too large, quarantined). */
  failUndelivered(error: ErrorInfo, node: string, call: SafeCall): void {
    if (this.#state !== TrackState.Waiting && this.#state !== TrackState.Sent) {
      throw illegal('failUndelivered', this.#state);
    }
    TrackedJob.#leaveWindow(this);
    this.#state = TrackState.Done;
    this.#session = undefined;
    const args = { ...this.spec.args, error };
    const info: FeedbackInfo = {
      jobId: this.spec.id,
      name: this.spec.name,
      node,
      attempt: 0,
      final: true,
    };
    this.accepted.reject(new JobFailedError(this.spec.id, error, args));
    call(this.spec.id, () => this.onError?.(args, error, info));
    this.result.reject(new JobFailedError(this.spec.id, error, args));
  }

  /** any → done: the distributor closed before the job finished. */
  shutdown(error: Error): void {
    TrackedJob.#leaveWindow(this);
    this.#state = TrackState.Done;
    this.#session = undefined;
    this.accepted.reject(error);
    this.result.reject(error);
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
function deliverFeedback(job: TrackedJob, fb: Feedback, call: SafeCall): void {
  const info: FeedbackInfo = {
    jobId: fb.jobId,
    name: job.spec.name,
    node: fb.node,
    attempt: fb.attempt,
    final: fb.final,
  };
  if (fb.runs !== undefined) info.runs = fb.runs;
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
  const item = encodeJobItem(spec, maxFrameSize);
  const tracked = new TrackedJob(spec, routing, onSuccess, onError);
  tracked.item = item;
  return tracked;
}
