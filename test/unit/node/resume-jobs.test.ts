import { describe, expect, it, vi } from 'vitest';
import { JobStatus, type JobRecord } from '../../../src/model/job.ts';
import type { Logger } from '../../../src/model/logger.ts';
import { resumeStoredJobs } from '../../../src/node/lifecycle/resume-jobs.ts';
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
    const done = makeRecord({ id: 'd', status: JobStatus.Complete });
    const list = vi.fn(async () => [waiting, done, running]);
    const saved: JobRecord[] = [];
    const save = vi.fn(async (r: JobRecord) => void saved.push(structuredClone(r)));
    const storage = { list, save } as unknown as JobStorage;
    const log = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
    const scheduled: JobRecord[] = [];

    const kept: JobRecord[] = [];
    await resumeStoredJobs(
      storage,
      (r) => scheduled.push(r),
      log,
      'n1',
      (r) => kept.push(r),
    );

    // One listing: the live jobs are resumed, the finished ones go to the retention index.
    expect(list).toHaveBeenCalledTimes(1);
    expect(kept).toEqual([done]);
    expect(scheduled).toHaveLength(2);
    expect(scheduled[0]).toBe(waiting);
    expect(scheduled[1]).toBe(running);
    expect(running.dueAt).toBe(T0);
    expect(saved.map((r) => [r.id, r.crashes])).toEqual([['r', 1]]);
    expect(log.info).toHaveBeenCalledWith({ resumed: 2, crashed: 1 }, 'resumed stored jobs');
  });

  it('resume - a job found in progress counts a crash of this node, saved before it is handed over', async () => {
    const running = makeRecord({
      id: 'r',
      status: JobStatus.InProgress,
      crashes: 1,
      crashedOn: ['n0'],
    });
    const waiting = makeRecord({ id: 'w', status: JobStatus.New });
    const order: string[] = [];
    const storage = {
      list: async () => [running, waiting],
      save: async (r: JobRecord) => void order.push(`save:${r.id}:${r.crashes}`),
    } as unknown as JobStorage;
    const log = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
    await resumeStoredJobs(storage, (r) => order.push(`take:${r.id}`), log, 'n1');
    expect(order).toEqual(['save:r:2', 'take:r', 'take:w']);
    expect(running.crashes).toBe(2);
    expect(running.crashedOn).toEqual(['n0', 'n1']);
    expect(waiting.crashes).toBeUndefined();
  });
});
