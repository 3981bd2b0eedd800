import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.ts';
import { JobStatus, recordCrash } from '../../../src/model/job.ts';
import { transition } from '../../../src/node/lifecycle/job-lifecycle.ts';
import { KnownJobs } from '../../../src/node/ownership/known-jobs.ts';
import {
  quarantineOutcome,
  storageLostFeedback,
} from '../../../src/node/ownership/ownership-outcomes.ts';
import { adoptedRecord } from '../../../src/storage/redis-adoption.ts';
import { T0, makeRecord } from './runner-helpers.ts';

const RULES = {
  maxAttempt: 10,
  retryMultiplier: 5,
  removeDoneJobs: true,
  removeCancelledJobs: true,
  removeFailedJobs: false,
};

describe('ownership outcomes', () => {
  it('quarantine - below maxDeliveries crashes the job may run again', () => {
    expect(quarantineOutcome(makeRecord(), 3)).toBeUndefined();
    expect(quarantineOutcome(makeRecord({ crashes: 2, crashedOn: ['a', 'b'] }), 3)).toBeUndefined();
  });

  it('quarantine - at maxDeliveries: a final, unrecoverable PoisonJobError naming the nodes', () => {
    const record = makeRecord({ crashes: 3, crashedOn: ['a', 'b', 'a'], args: { n: 1 } });
    const outcome = quarantineOutcome(record, 3);
    expect(outcome).toMatchObject({ kind: 'error', unrecoverable: true });
    if (outcome?.kind !== 'error') throw new Error('expected an error outcome');
    expect(outcome.error.code).toBe(ErrorCodes.PoisonJob);
    expect(outcome.error.message).toContain('a, b, a');
    expect(outcome.error.message).toContain(record.id);
    expect(outcome.args).toEqual({ n: 1, error: outcome.error });
    expect(record.args).toEqual({ n: 1 }); // pure
    // Through the job state machine: failed at once (attempts left do not matter), kept
    // unless removeFailedJobs, with a final error feedback.
    const t = transition(record, outcome, record.dueAt, T0, RULES);
    expect(t.record.status).toBe(JobStatus.Failed);
    expect(t.store).toBe('save');
    expect(t.next).toBeUndefined();
    expect(t.feedback).toMatchObject({ outcome: 'error', final: true });
    expect(t.feedback?.error?.code).toBe(ErrorCodes.PoisonJob);
    expect(
      transition(record, outcome, record.dueAt, T0, { ...RULES, removeFailedJobs: true }).store,
    ).toBe('remove');
  });

  it('recordCrash and adoptedRecord - crash accounting for a record found in progress', () => {
    const r = makeRecord({ status: JobStatus.InProgress, delivery: 1 });
    recordCrash(r, 'n1');
    recordCrash(r, 'n2');
    expect([r.crashes, r.crashedOn]).toEqual([2, ['n1', 'n2']]);

    const running = makeRecord({ status: JobStatus.InProgress, node: 'dead', delivery: 2 });
    const adopted = adoptedRecord(running, 'live', 'dead');
    expect(adopted).toMatchObject({ node: 'live', delivery: 3, crashes: 1, crashedOn: ['dead'] });
    expect(running).toMatchObject({ node: 'dead', delivery: 2 }); // pure
    expect(running.crashes).toBeUndefined();
    const waiting = adoptedRecord(
      makeRecord({ status: JobStatus.New, node: 'dead' }),
      'live',
      'dead',
    );
    expect(waiting).toMatchObject({ node: 'live', delivery: 2 });
    expect(waiting.crashes).toBeUndefined();
  });

  it('storage lost - a final error feedback keyed like the job, to its distributor', () => {
    const fb = storageLostFeedback({ id: 'j1', distributor: 'd1', nonce: 'x' }, 'n1');
    expect(fb).toMatchObject({
      key: 'j1~x',
      jobId: 'j1',
      distributor: 'd1',
      node: 'n1',
      outcome: 'error',
      final: true,
    });
    expect(fb.error?.code).toBe(ErrorCodes.StorageLost);
    expect(storageLostFeedback({ id: 'j2', distributor: 'd1' }, 'n1').key).toBe('j2');
  });

  it('known jobs - one small index per job, distributor ids and nonces kept once', () => {
    const known = new KnownJobs();
    known.add({ id: 'a', distributor: 'd1' });
    known.add({ id: 'b', distributor: 'd2', nonce: 'n' });
    known.add({ id: 'c', distributor: 'd1' });
    expect(known.size).toBe(3);
    expect(known.list()).toEqual([
      { id: 'a', distributor: 'd1' },
      { id: 'b', distributor: 'd2', nonce: 'n' },
      { id: 'c', distributor: 'd1' },
    ]);
    known.delete('b');
    expect(known.has('b')).toBe(false);
    expect(known.list().map((j) => j.id)).toEqual(['a', 'c']);
    known.clear();
    expect(known.size).toBe(0);
  });

  it('known jobs - disabled (a storage that keeps its data, LMDB): nothing is kept', () => {
    const known = new KnownJobs(false);
    known.add({ id: 'a', distributor: 'd1' });
    expect(known.size).toBe(0);
    expect(known.list()).toEqual([]);
  });
});
