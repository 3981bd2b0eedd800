import type { Feedback, JobRecord } from '../../src/model/job.ts';

/** A stored record of a new instant job named `job` (enqueued at 1), with `over` applied. */
export function storedJob(id: string, node: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'job',
    args: {},
    distributor: 'd',
    enqueuedAt: 1,
    runAt: 1,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: 1,
    runs: 0,
    updatedAt: 1,
    ...over,
  };
}

/** A final success feedback of job `id` on `node` (its key is the id), with `over` applied. */
export function finalFeedback(id: string, node: string, over: Partial<Feedback> = {}): Feedback {
  return {
    key: id,
    jobId: id,
    distributor: 'd',
    node,
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
    ...over,
  };
}
