import {
  ErrorCodes,
  IllegalTransitionError,
  InvalidArgumentError,
  toErrorInfo,
  type ErrorInfo,
} from '../../errors.ts';
import {
  FINAL_STATUSES,
  feedbackKeyBase,
  JobStatus,
  type Feedback,
  type FeedbackOutcome,
  type JobArgs,
  type JobRecord,
  type JobSpec,
} from '../../model/job.ts';
import { argsProblem } from '../../protocol/validate.ts';
import { isRecurring, nextDue } from '../../scheduling/schedule.ts';
import { DEFAULT_MAX_ATTEMPT, retryDelay } from '../../scheduling/retry.ts';
import { stripAttemptKeys, type AttemptOutcome } from '../running/job-runner.ts';

/** Node-wide rules that decide what happens after an attempt. */
export interface LifecycleRules {
  maxAttempt: number;
  retryMultiplier: number;
  removeDoneJobs: boolean;
  removeCancelledJobs: boolean;
  removeFailedJobs: boolean;
  /** The job definition's own backoff function (node-side only). */
  backoff?: ((attempt: number, error: ErrorInfo | undefined) => number) | undefined;
}

/** What to do with a job after an attempt: the new record, whether to keep it, when it runs next, what to report. */
export interface Transition {
  record: JobRecord;
  store: 'save' | 'remove';
  /** Due time of the next attempt or run; undefined when the job is finished. */
  next: number | undefined;
  feedback: Feedback | undefined;
}

/**
 * A node's record of a job it just received. Built field by field, in one order, rather
 * than by spreading the decoded message: every record then shares one object shape, and
 * the per-job copies after it (transition) stay on V8's fast path. Fields the message has
 * beyond JobSpec are dropped.
 */
export function newRecord(
  spec: JobSpec,
  id: string,
  node: string,
  dueAt: number,
  now: number,
): JobRecord {
  const r: JobRecord = {
    id,
    name: spec.name,
    args: spec.args,
    distributor: spec.distributor,
    enqueuedAt: spec.enqueuedAt,
    runAt: spec.runAt,
    delivery: spec.delivery,
    node,
    status: JobStatus.New,
    attempt: spec.attempt ?? 0,
    dueAt,
    runs: spec.runs ?? 0,
    updatedAt: now,
  };
  if (spec.period !== undefined) r.period = spec.period;
  if (spec.cron !== undefined) r.cron = spec.cron;
  if (spec.tz !== undefined) r.tz = spec.tz;
  if (spec.maxAttempt !== undefined) r.maxAttempt = spec.maxAttempt;
  if (spec.retryMultiplier !== undefined) r.retryMultiplier = spec.retryMultiplier;
  if (spec.backoff !== undefined) r.backoff = spec.backoff;
  if (spec.timeout !== undefined) r.timeout = spec.timeout;
  if (spec.defer !== undefined) r.defer = spec.defer;
  if (spec.pinned !== undefined) r.pinned = spec.pinned;
  if (spec.crashes !== undefined) r.crashes = spec.crashes;
  if (spec.crashedOn !== undefined) r.crashedOn = spec.crashedOn;
  if (spec.nonce !== undefined) r.nonce = spec.nonce;
  if (spec.priority !== undefined) r.priority = spec.priority;
  if (spec.limit !== undefined) r.limit = spec.limit;
  if (spec.endAt !== undefined) r.endAt = spec.endAt;
  if (spec.trace !== undefined) r.trace = spec.trace;
  return r;
}

/**
 * Marks `record` (the attempt's own copy) as started at `now`: the next attempt, in
 * progress. From new, queued (a periodic job's next run), error (a retry), or in progress
 * (a durable node resuming a job that was running when it died); never from a final status.
 */
export function markStarted(record: JobRecord, now: number): void {
  if (FINAL_STATUSES.has(record.status)) {
    throw new IllegalTransitionError(`cannot start job ${record.id}: it is ${record.status}`);
  }
  record.status = JobStatus.InProgress;
  record.attempt += 1;
  record.startedAt = now;
  record.updatedAt = now;
}

/**
 * The job state machine after one attempt (pure). `slot` is the due time of the attempt
 * that just ran; `now` is when it ended.
 */
export function transition(
  record: JobRecord,
  outcome: AttemptOutcome,
  slot: number,
  now: number,
  rules: LifecycleRules,
): Transition {
  // An attempt's outcome settles a job in progress; a cancel may also end one that waits.
  const legal =
    record.status === JobStatus.InProgress ||
    (outcome.kind === 'cancelled' && !FINAL_STATUSES.has(record.status));
  if (!legal) {
    throw new IllegalTransitionError(
      `job ${record.id} cannot end with ${outcome.kind}: it is ${record.status}`,
    );
  }
  const base = feedbackKeyBase(record);
  const key = isRecurring(record) ? `${base}@${slot}` : base;
  if (outcome.kind === 'success') {
    if (isRecurring(record)) {
      const next = withinLimits(record, record.runs + 1, nextDue(record, slot, now));
      const r: JobRecord = {
        ...record,
        args: stripAttemptKeys(outcome.args),
        status: next === undefined ? JobStatus.Complete : JobStatus.Queued,
        attempt: 0,
        runs: record.runs + 1,
        dueAt: next ?? now,
        updatedAt: now,
      };
      delete r.lastError;
      const final = next === undefined;
      const feedback = feedbackOf(record, key, 'success', final, outcome.args);
      // Where the job stands, for a distributor that may have to resume it elsewhere; on
      // the last run (its limit or endAt reached), how many runs it made.
      if (!final) feedback.next = next;
      feedback.runs = r.runs;
      return {
        record: r,
        store: final && rules.removeDoneJobs ? 'remove' : 'save',
        next,
        feedback,
      };
    }
    const r: JobRecord = {
      ...record,
      args: stripAttemptKeys(outcome.args),
      status: JobStatus.Complete,
      updatedAt: now,
    };
    return {
      record: r,
      store: rules.removeDoneJobs ? 'remove' : 'save',
      next: undefined,
      feedback: feedbackOf(record, key, 'success', true, outcome.args),
    };
  }
  if (outcome.kind === 'cancelled') {
    const r: JobRecord = { ...record, status: JobStatus.Cancelled, updatedAt: now };
    if (outcome.error) r.lastError = outcome.error;
    const feedback = feedbackOf(record, base, 'cancelled', true, outcome.args);
    if (outcome.error) feedback.error = outcome.error;
    if (outcome.inErrback) feedback.inErrback = true;
    return {
      record: r,
      store: rules.removeCancelledJobs ? 'remove' : 'save',
      next: undefined,
      feedback,
    };
  }
  const maxAttempt = record.maxAttempt ?? rules.maxAttempt ?? DEFAULT_MAX_ATTEMPT;
  // A recurring job retries at its next slot; past its endAt there is none, and it fails.
  const nextSlot = isRecurring(record)
    ? (withinLimits(record, record.runs, nextDue(record, slot, now) ?? now) ?? null)
    : undefined;
  const retry = !outcome.unrecoverable && record.attempt < maxAttempt && nextSlot !== null;
  if (retry) {
    // A retry starts again from the args the attempt began with: nothing of the failed
    // attempt (its error, half-done merges) leaks into the next one.
    const next =
      nextSlot !== undefined
        ? nextSlot
        : now +
          retryDelay({
            attempt: record.attempt,
            retryMultiplier: record.retryMultiplier ?? rules.retryMultiplier,
            ...(record.backoff
              ? { backoff: record.backoff }
              : rules.backoff
                ? { backoff: rules.backoff }
                : {}),
            error: outcome.error,
          });
    return {
      record: {
        ...record,
        status: JobStatus.Error,
        failedAt: now,
        lastError: outcome.error,
        dueAt: next,
        updatedAt: now,
      },
      store: 'save',
      next,
      feedback: undefined,
    };
  }
  const r: JobRecord = {
    ...record,
    args: stripAttemptKeys(outcome.args),
    status: JobStatus.Failed,
    failedAt: now,
    lastError: outcome.error,
    updatedAt: now,
  };
  const feedback = feedbackOf(record, key, 'error', true, outcome.args);
  feedback.error = outcome.error;
  return {
    record: r,
    store: rules.removeFailedJobs ? 'remove' : 'save',
    next: undefined,
    feedback,
  };
}

/**
 * `next`, the due time of a recurring job's next run, unless its repeat limits end it
 * there: `runs` (done after this run) reached `limit`, or `next` is past `endAt`.
 */
function withinLimits(
  record: JobRecord,
  runs: number,
  next: number | undefined,
): number | undefined {
  if (next === undefined) return undefined;
  if (record.limit !== undefined && runs >= record.limit) return undefined;
  if (record.endAt !== undefined && next > record.endAt) return undefined;
  return next;
}

/**
 * A feedback built field by field in one order (a spread of a shared base costs V8 a
 * slow clone per job); optional fields are set by the caller.
 */
function feedbackOf(
  record: JobRecord,
  key: string,
  outcome: FeedbackOutcome,
  final: boolean,
  args: JobArgs,
): Feedback {
  return {
    key,
    jobId: record.id,
    distributor: record.distributor,
    node: record.node,
    outcome,
    final,
    args,
    attempt: record.attempt,
  };
}

/** The final error feedback for a job this node cannot run at all. */
export function unknownJobFeedback(record: JobRecord): Omit<Feedback, 'node' | 'distributor'> {
  const error: ErrorInfo = {
    name: 'UnknownJobError',
    code: ErrorCodes.UnknownJob,
    message: `no job named '${record.name}' is defined on this node`,
  };
  return {
    jobId: record.id,
    key: feedbackKeyBase(record),
    outcome: 'error',
    final: true,
    attempt: record.attempt,
    args: { ...record.args, error },
    error,
  };
}

/**
 * The final error feedback for a job refused on arrival because a setting is out of range
 * (see `jobSettingsProblem`): never stored or run, and the application's handle settles
 * with an InvalidArgumentError naming the field.
 */
export function invalidJobFeedback(
  spec: JobSpec,
  message: string,
): Omit<Feedback, 'node' | 'distributor'> {
  const error = new InvalidArgumentError(`job ${spec.id} refused by the node: ${message}`).toInfo();
  return {
    jobId: spec.id,
    key: feedbackKeyBase(spec),
    outcome: 'error',
    final: true,
    attempt: 0,
    args: { ...spec.args, error },
    error,
  };
}

/**
 * The outcome itself when its args can travel back in a feedback; otherwise a final error
 * naming what cannot (a Date, a function, a class instance left in args), with the args
 * the attempt started from: a clear error for the application, not a feedback that fails
 * to encode (which used to leave `result` pending and reject inside the node).
 */
export function sendableOutcome(record: JobRecord, outcome: AttemptOutcome): AttemptOutcome {
  const problem = argsProblem(outcome.args);
  if (problem === undefined) return outcome;
  const error = new InvalidArgumentError(
    `job ${record.name} left args that cannot be sent back (plain data only): ${problem}`,
  ).toInfo();
  return finalFailure(record, error);
}

/**
 * `transition`, except that a retry delay the job's own backoff function cannot give (it
 * threw, or returned no finite delay) fails the job for good, rather than throwing inside
 * the node where nobody would hear it. The job's own error stays the reported one (what
 * the application wants to see); the backoff problem is its `details.backoffError`.
 */
export function settleOutcome(
  record: JobRecord,
  outcome: AttemptOutcome,
  slot: number,
  now: number,
  rules: LifecycleRules,
): Transition {
  try {
    return transition(record, outcome, slot, now, rules);
  } catch (err) {
    if (err instanceof IllegalTransitionError) throw err; // a bug, not the job's doing
    const problem = toErrorInfo(err);
    if (outcome.kind !== 'error')
      return transition(record, finalFailure(record, problem), slot, now, rules);
    const error: ErrorInfo = {
      ...outcome.error,
      details: { ...outcome.error.details, backoffError: problem },
    };
    const failed: AttemptOutcome = {
      kind: 'error',
      args: { ...outcome.args, error },
      error,
      unrecoverable: true,
    };
    return transition(record, failed, slot, now, rules);
  }
}

/** A failure that ends the job (no retry), with the args the attempt started from. */
function finalFailure(record: JobRecord, error: ErrorInfo): AttemptOutcome {
  return { kind: 'error', args: { ...record.args, error }, error, unrecoverable: true };
}
