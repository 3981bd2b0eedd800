import { ErrorCodes, type ErrorInfo } from '../errors.ts';
import { JobStatus, type Feedback, type JobRecord } from '../model/job.ts';
import { isRecurring, nextDue } from '../scheduling/schedule.ts';
import { DEFAULT_MAX_ATTEMPT, retryDelay } from '../scheduling/retry.ts';
import { stripAttemptKeys, type AttemptOutcome } from './job-runner.ts';

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
  feedback: Omit<Feedback, 'node' | 'distributor'> | undefined;
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
  const base = { jobId: record.id, attempt: record.attempt };
  const key = isRecurring(record) ? `${record.id}@${slot}` : record.id;
  if (outcome.kind === 'success') {
    if (isRecurring(record)) {
      const next = nextDue(record, slot, now);
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
      return {
        record: r,
        store: final && rules.removeDoneJobs ? 'remove' : 'save',
        next,
        feedback: { ...base, key, outcome: 'success', final, args: outcome.args },
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
      feedback: { ...base, key, outcome: 'success', final: true, args: outcome.args },
    };
  }
  if (outcome.kind === 'cancelled') {
    const r: JobRecord = { ...record, status: JobStatus.Cancelled, updatedAt: now };
    if (outcome.error) r.lastError = outcome.error;
    return {
      record: r,
      store: rules.removeCancelledJobs ? 'remove' : 'save',
      next: undefined,
      feedback: {
        ...base,
        key: record.id,
        outcome: 'cancelled',
        final: true,
        args: outcome.args,
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(outcome.inErrback ? { inErrback: true } : {}),
      },
    };
  }
  const maxAttempt = record.maxAttempt ?? rules.maxAttempt ?? DEFAULT_MAX_ATTEMPT;
  const retry = !outcome.unrecoverable && record.attempt < maxAttempt;
  if (retry) {
    // A retry starts again from the args the attempt began with: nothing of the failed
    // attempt (its error, half-done merges) leaks into the next one.
    const next = isRecurring(record)
      ? (nextDue(record, slot, now) ?? now)
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
  return {
    record: r,
    store: rules.removeFailedJobs ? 'remove' : 'save',
    next: undefined,
    feedback: {
      ...base,
      key,
      outcome: 'error',
      final: true,
      args: outcome.args,
      error: outcome.error,
    },
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
    key: record.id,
    outcome: 'error',
    final: true,
    attempt: record.attempt,
    args: { ...record.args, error },
    error,
  };
}
