import type { JobRecord } from '../../src/model/job.ts';

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
