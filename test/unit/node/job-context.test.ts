import { describe, expect, it } from 'vitest';
import { CancelJob } from '../../../src/errors.ts';
import { createJobContext, jobItself, noopLogger } from '../../../src/node/running/job-context.ts';
import { T0, makeRecord } from './runner-helpers.ts';

describe('job context', () => {
  it('job context - exposes the facts of the attempt', () => {
    const controller = new AbortController();
    const record = makeRecord({ attempt: 2, delivery: 3, period: 5_000, cron: '* * * * *' });
    const ctx = createJobContext(record, {
      node: 'node-9',
      startedAt: T0 + 7,
      signal: controller.signal,
      log: noopLogger,
    });
    expect(ctx).toMatchObject({
      id: 'job-1',
      name: 'test_job',
      attempt: 2,
      node: 'node-9',
      distributor: 'dist-1',
      status: 'in progress',
      period: 5_000,
      cron: '* * * * *',
      delivery: 3,
    });
    expect(ctx.enqueuedAt).toEqual(new Date(T0 - 5_000));
    expect(ctx.startedAt).toEqual(new Date(T0 + 7));
    expect(ctx.runAt).toEqual(new Date(record.dueAt));
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.log).toBe(noopLogger);
    expect(Object.isFrozen(ctx)).toBe(true);
  });

  it('job context - optional facts are absent when the job has none', () => {
    const ctx = createJobContext(makeRecord(), {
      node: 'n',
      startedAt: T0,
      signal: new AbortController().signal,
      log: noopLogger,
    });
    expect(ctx).not.toHaveProperty('period');
    expect(ctx).not.toHaveProperty('cron');
  });

  it('job context - cancel() throws CancelJob with the reason', () => {
    const ctx = createJobContext(makeRecord(), {
      node: 'n',
      startedAt: T0,
      signal: new AbortController().signal,
      log: noopLogger,
    });
    expect(() => ctx.cancel('no more')).toThrow(CancelJob);
    expect(() => ctx.cancel('no more')).toThrow('no more');
    expect(() => ctx.cancel()).toThrow(CancelJob);
  });

  it('job context - jobItself is a plain, independent snapshot', () => {
    const record = makeRecord();
    const snapshot = jobItself(record, T0 + 1);
    expect(Object.keys(snapshot).sort()).toEqual(
      [
        'args',
        'attempt',
        'delivery',
        'distributor',
        'dueAt',
        'enqueuedAt',
        'id',
        'name',
        'node',
        'runAt',
        'startedAt',
        'status',
      ].sort(),
    );
    expect(snapshot.args).toEqual(record.args);
    expect(snapshot.args).not.toBe(record.args);
    expect(structuredClone(snapshot)).toEqual(snapshot);
  });

  it('job context - noopLogger accepts pino-style calls', () => {
    expect(() => {
      noopLogger.debug('text');
      noopLogger.info({ a: 1 }, 'text');
      noopLogger.warn({ a: 1 });
      noopLogger.error('text');
    }).not.toThrow();
  });

  it('job context - the dates and cancel are made when read, the same each time, and cancel works detached', () => {
    const ctx = createJobContext(makeRecord(), {
      node: 'n',
      startedAt: T0 + 3,
      signal: new AbortController().signal,
      log: noopLogger,
    });
    expect(ctx.startedAt).toBe(ctx.startedAt);
    expect(ctx.enqueuedAt).toBe(ctx.enqueuedAt);
    expect(ctx.runAt).toBe(ctx.runAt);
    expect(ctx.startedAt).toEqual(new Date(T0 + 3));
    const { cancel, startedAt } = ctx;
    expect(startedAt).toBeInstanceOf(Date);
    expect(cancel).toBe(ctx.cancel);
    expect(() => cancel('detached')).toThrow(CancelJob);
    expect(Object.isFrozen(ctx)).toBe(true);
  });

  it('job context - progress is made on first read, the same each time, and reports detached', () => {
    const reports: Array<[string, unknown]> = [];
    const ctx = createJobContext(makeRecord(), {
      node: 'n',
      startedAt: T0,
      signal: new AbortController().signal,
      log: noopLogger,
      progress: (id, value) => reports.push([id, value]),
    });
    const { progress } = ctx;
    expect(progress).toBe(ctx.progress);
    progress(10);
    ctx.progress({ step: 'b' });
    expect(reports).toEqual([
      [ctx.id, 10],
      [ctx.id, { step: 'b' }],
    ]);
    expect(() => progress(Number.NaN)).toThrow();
    expect(reports).toHaveLength(2);
  });

  it('job context - a signal source object gives its signal when a step reads ctx.signal', () => {
    const controller = new AbortController();
    let reads = 0;
    const ctx = createJobContext(makeRecord(), {
      node: 'n',
      startedAt: T0,
      signal: {
        get signal() {
          reads++;
          return controller.signal;
        },
      },
      log: noopLogger,
    });
    expect(reads).toBe(0);
    expect(ctx.signal).toBe(controller.signal);
    expect(reads).toBe(1);
  });
});
