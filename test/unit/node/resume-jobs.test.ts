import { describe, expect, it, vi } from 'vitest';
import { JobStatus, type JobRecord } from '../../../src/model/job.ts';
import type { Logger } from '../../../src/model/logger.ts';
import { resumeStoredJobs } from '../../../src/node/resume-jobs.ts';
import type { JobStorage } from '../../../src/storage/job-storage.ts';
import { T0, makeRecord } from './runner-helpers.ts';

describe('resume stored jobs', () => {
  it('resume - schedules the live jobs at their own due times (a cut-short run stays on its slot)', async () => {
    const waiting = makeRecord({ id: 'w', status: JobStatus.Queued, dueAt: T0 + 120_000 });
    const running = makeRecord({
      id: 'r',
      status: JobStatus.InProgress,
      dueAt: T0,
      period: 1000,
    });
    const list = vi.fn(async () => [waiting, running]);
    const storage = { list } as unknown as JobStorage;
    const log = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
    const scheduled: JobRecord[] = [];

    await resumeStoredJobs(storage, (r) => scheduled.push(r), log);

    expect(list).toHaveBeenCalledWith({
      status: [JobStatus.New, JobStatus.InProgress, JobStatus.Queued, JobStatus.Error],
    });
    expect(scheduled).toHaveLength(2);
    expect(scheduled[0]).toBe(waiting);
    expect(scheduled[1]).toBe(running);
    expect(running.dueAt).toBe(T0);
    expect(log.info).toHaveBeenCalledWith({ resumed: 2 }, 'resumed stored jobs');
  });
});
