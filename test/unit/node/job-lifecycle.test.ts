import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../../src/errors.ts';
import { JobStatus, type JobRecord } from '../../../src/model/job.ts';
import {
  markStarted,
  newRecord,
  transition,
  type LifecycleRules,
} from '../../../src/node/lifecycle/job-lifecycle.ts';
import type { AttemptOutcome } from '../../../src/node/running/job-runner.ts';

const T0 = 1_700_000_000_000;
const rules: LifecycleRules = {
  maxAttempt: 3,
  retryMultiplier: 5,
  removeDoneJobs: true,
  removeCancelledJobs: true,
  removeFailedJobs: false,
};
const boom = { name: 'Error', code: 'JR_ERR_JOB_THREW', message: 'boom' };
const ok = (args = { x: 1 }): AttemptOutcome => ({ kind: 'success', args });
const fail = (unrecoverable = false): AttemptOutcome => ({
  kind: 'error',
  args: { x: 1, error: boom },
  error: boom,
  unrecoverable,
});
const cancel = (inErrback = false): AttemptOutcome => ({
  kind: 'cancelled',
  args: { x: 1 },
  inErrback,
  ...(inErrback ? { error: boom } : {}),
});

function record(over: Partial<JobRecord> = {}): JobRecord {
  const r = newRecord(
    {
      id: 'j1',
      name: 'j',
      args: { x: 1 },
      distributor: 'd',
      enqueuedAt: T0,
      runAt: T0,
      delivery: 1,
    },
    'j1',
    'n1',
    T0,
    T0,
  );
  return { ...r, ...over };
}

function started(over: Partial<JobRecord> = {}): JobRecord {
  const r = record(over);
  markStarted(r, T0 + 1);
  return r;
}

describe('job lifecycle (node) - every transition', () => {
  it('new → in progress: markStarted counts the attempt', () => {
    const r = record();
    markStarted(r, T0 + 5);
    expect(r).toMatchObject({ status: JobStatus.InProgress, attempt: 1, startedAt: T0 + 5 });
  });

  it('queued, error and in progress (a resumed crash) may start; a final status may not', () => {
    for (const status of [JobStatus.Queued, JobStatus.Error, JobStatus.InProgress]) {
      const r = record({ status, attempt: 1 });
      markStarted(r, T0);
      expect(r.status).toBe(JobStatus.InProgress);
    }
    for (const status of [JobStatus.Complete, JobStatus.Failed, JobStatus.Cancelled]) {
      expect(() => markStarted(record({ status }), T0)).toThrow(IllegalTransitionError);
    }
  });

  it('in progress + success → complete, removed, final success feedback keyed by id', () => {
    const t = transition(started(), ok({ x: 2 }), T0, T0 + 10, rules);
    expect(t.record.status).toBe(JobStatus.Complete);
    expect(t.store).toBe('remove');
    expect(t.next).toBeUndefined();
    expect(t.feedback).toMatchObject({
      key: 'j1',
      outcome: 'success',
      final: true,
      args: { x: 2 },
    });
    expect(transition(started(), ok(), T0, T0, { ...rules, removeDoneJobs: false }).store).toBe(
      'save',
    );
  });

  it('in progress + success of a periodic job → queued for its next slot, non-final feedback that says where it stands', () => {
    const t = transition(started({ period: 1000 }), ok({ x: 2 }), T0, T0 + 10, rules);
    expect(t.record).toMatchObject({
      status: JobStatus.Queued,
      attempt: 0,
      runs: 1,
      dueAt: T0 + 1000,
    });
    expect(t.store).toBe('save');
    expect(t.next).toBe(T0 + 1000);
    expect(t.feedback).toMatchObject({
      key: `j1@${T0}`,
      final: false,
      next: T0 + 1000,
      runs: 1,
    });
  });

  it('in progress + error with attempts left → error, retried after attempt × multiplier, no feedback', () => {
    const t = transition(started(), fail(), T0, T0 + 10, rules);
    expect(t.record).toMatchObject({
      status: JobStatus.Error,
      lastError: boom,
      dueAt: T0 + 10 + 5000,
    });
    expect(t.record.args).toEqual({ x: 1 }); // the next attempt starts from the original args
    expect(t.next).toBe(T0 + 10 + 5000);
    expect(t.feedback).toBeUndefined();
  });

  it('in progress + error on the last attempt, or unrecoverable → failed, final error feedback', () => {
    for (const t of [
      transition(started({ attempt: 2 }), fail(), T0, T0, rules),
      transition(started(), fail(true), T0, T0, rules),
    ]) {
      expect(t.record.status).toBe(JobStatus.Failed);
      expect(t.store).toBe('save');
      expect(t.feedback).toMatchObject({ outcome: 'error', final: true, error: boom });
    }
  });

  it('a periodic job that fails with attempts left retries at its next slot', () => {
    const t = transition(started({ period: 1000 }), fail(), T0, T0 + 10, rules);
    expect(t.record.status).toBe(JobStatus.Error);
    expect(t.next).toBe(T0 + 1000);
  });

  it('in progress + cancelled → cancelled, final feedback (inErrback carries the error)', () => {
    const t = transition(started(), cancel(), T0, T0, rules);
    expect(t.record.status).toBe(JobStatus.Cancelled);
    expect(t.feedback).toMatchObject({ outcome: 'cancelled', final: true });
    const e = transition(started(), cancel(true), T0, T0, rules);
    expect(e.feedback).toMatchObject({ inErrback: true, error: boom });
  });

  it('a job that waits (new, queued, error) may be cancelled before it runs', () => {
    for (const status of [JobStatus.New, JobStatus.Queued, JobStatus.Error]) {
      expect(transition(record({ status }), cancel(), T0, T0, rules).record.status).toBe(
        JobStatus.Cancelled,
      );
    }
  });

  it('a caller-chosen id: the feedback key carries its nonce', () => {
    const t = transition(started({ nonce: 'n-1' }), ok(), T0, T0, rules);
    expect(t.feedback?.key).toBe('j1~n-1');
    const p = transition(started({ nonce: 'n-1', period: 1000 }), ok(), T0, T0, rules);
    expect(p.feedback?.key).toBe(`j1~n-1@${T0}`);
  });

  it('illegal: an outcome for a job not in progress, or any outcome for a finished job', () => {
    for (const status of [JobStatus.New, JobStatus.Queued, JobStatus.Error]) {
      for (const outcome of [ok(), fail()]) {
        expect(() => transition(record({ status }), outcome, T0, T0, rules)).toThrow(
          IllegalTransitionError,
        );
      }
    }
    for (const status of [JobStatus.Complete, JobStatus.Failed, JobStatus.Cancelled]) {
      for (const outcome of [ok(), fail(), cancel()]) {
        expect(() => transition(record({ status }), outcome, T0, T0, rules)).toThrow(
          IllegalTransitionError,
        );
      }
    }
  });
});

describe('job lifecycle (node) - repeat limits', () => {
  it('in progress → queued while runs < limit; → complete with a final feedback at the limit', () => {
    const before = transition(
      started({ period: 1000, limit: 3, runs: 1 }),
      ok(),
      T0,
      T0 + 5,
      rules,
    );
    expect(before.record.status).toBe(JobStatus.Queued);
    expect(before.feedback).toMatchObject({ final: false, runs: 2, next: T0 + 1000 });
    const last = transition(started({ period: 1000, limit: 3, runs: 2 }), ok(), T0, T0 + 5, rules);
    expect(last.record.status).toBe(JobStatus.Complete);
    expect(last.next).toBeUndefined();
    expect(last.store).toBe('remove');
    expect(last.feedback).toMatchObject({ final: true, runs: 3, outcome: 'success' });
    expect(last.feedback?.next).toBeUndefined();
  });

  it('in progress → complete when the next slot is past endAt; queued while it is not', () => {
    const within = transition(started({ period: 1000, endAt: T0 + 1000 }), ok(), T0, T0 + 5, rules);
    expect(within.record.status).toBe(JobStatus.Queued);
    expect(within.next).toBe(T0 + 1000);
    const past = transition(started({ period: 1000, endAt: T0 + 999 }), ok(), T0, T0 + 5, rules);
    expect(past.record.status).toBe(JobStatus.Complete);
    expect(past.feedback).toMatchObject({ final: true, runs: 1 });
  });

  it('in progress → error (retry at the next slot) within endAt; → failed when none is left', () => {
    const retry = transition(
      started({ period: 1000, endAt: T0 + 5000 }),
      fail(),
      T0,
      T0 + 5,
      rules,
    );
    expect(retry.record.status).toBe(JobStatus.Error);
    expect(retry.next).toBe(T0 + 1000);
    const none = transition(started({ period: 1000, endAt: T0 + 500 }), fail(), T0, T0 + 5, rules);
    expect(none.record.status).toBe(JobStatus.Failed);
    expect(none.feedback).toMatchObject({ final: true, outcome: 'error' });
  });
});
