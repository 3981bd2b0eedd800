import { afterEach, describe, expect, it } from 'vitest';
import {
  JR,
  JobRegistry,
  JobStatus,
  MemoryStorage,
  startDistributor,
  startNode,
  type JobArgs,
  type NodeOptions,
} from '../../src/index.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: { close?: () => Promise<void>; stop?: (o?: { timeout?: number }) => Promise<void> }[] =
  [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.({ timeout: 200 }) ?? o.close?.());
});

async function setup(registry: JobRegistry, node: Partial<NodeOptions> = {}, clock?: FakeClock) {
  const d = await startDistributor({ port: 0, ...(clock ? { clock } : {}) });
  open.push(d);
  const n = await startNode({
    name: 'n1',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry,
    ...(clock ? { clock } : {}),
    ...node,
  });
  open.push(n);
  await waitUntil(() => d.nodes().length === 1);
  return { d, n };
}

describe('lifecycle - what the storage keeps, reflection, stale keys, cron', () => {
  it('removeDoneJobs / removeCancelledJobs / removeFailedJobs decide what the storage keeps', async () => {
    const reg = new JobRegistry();
    reg.define('ok', () => ({ done: true }));
    reg.define('bad', () => {
      throw new Error('bad');
    });
    reg.define('stop', (_a, ctx) => ctx.cancel());
    const keep = new MemoryStorage();
    const { d } = await setup(reg, {
      storage: keep,
      removeDoneJobs: false,
      removeCancelledJobs: false,
      removeFailedJobs: false,
      maxAttempt: 1,
    });
    const ok = d.enqueue('ok', {});
    const bad = d.enqueue('bad', {});
    const stop = d.enqueue('stop', {});
    await ok.result;
    await bad.result.catch(() => {});
    await stop.result;
    const kept = await keep.list();
    const status = (id: string) => kept.find((j) => j.id === id)?.status;
    expect(status(ok.id)).toBe(JobStatus.Complete);
    expect(status(bad.id)).toBe(JobStatus.Failed);
    expect(status(stop.id)).toBe(JobStatus.Cancelled);
    expect(kept.find((j) => j.id === bad.id)?.lastError).toMatchObject({ message: 'bad' });
    expect(kept.find((j) => j.id === ok.id)?.args).toEqual({ done: true });

    const drop = new MemoryStorage();
    const second = await setup(reg, { name: 'n2', storage: drop, maxAttempt: 1 });
    await second.d.enqueue('ok', {}).result;
    await second.d.enqueue('stop', {}).result;
    const failed = second.d.enqueue('bad', {});
    await failed.result.catch(() => {});
    // Defaults: done and cancelled removed, failed kept (JobReactor's).
    expect((await drop.list()).map((j) => [j.id, j.status])).toEqual([
      [failed.id, JobStatus.Failed],
    ]);
  });

  it('mergeJobItselfToArgs: the job sees itself; success feedback carries it', async () => {
    const reg = new JobRegistry();
    reg.define('self', () => {});
    const { d } = await setup(reg, { mergeJobItselfToArgs: true });
    const args = await d.enqueue('self', { a: 1 }, { maxAttempt: 3 }).result;
    expect(args.jobItself).toMatchObject({
      name: 'self',
      attempt: 1,
      status: 'in progress',
      node: 'n1',
      distributor: d.id,
      args: { a: 1 },
    });
    expect(typeof (args.jobItself as { startedAt: unknown }).startedAt).toBe('number');
  });

  it('no stale keys (W22): a retry starts from clean args and the success feedback has no error', async () => {
    const reg = new JobRegistry();
    const seen: JobArgs[] = [];
    reg.define('second-time-lucky', (args: JobArgs, ctx) => {
      seen.push({ ...args });
      args.halfDone = true;
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      return { finished: true };
    });
    reg.errback('second-time-lucky', 'note', () => ({ noted: true }));
    const { d } = await setup(reg, { retryMultiplier: 0 });
    const result = await d.enqueue('second-time-lucky', { input: 1 }).result;
    expect(seen).toEqual([{ input: 1 }, { input: 1 }]);
    expect(result).toEqual({ input: 1, halfDone: true, finished: true });
  });

  it('cron: runs at each matching minute in the given time zone (fake time)', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 1, 30));
    const reg = new JobRegistry();
    const runs: number[] = [];
    reg.define('report', (_a, ctx) => void runs.push(ctx.runAt.getTime()));
    const { d } = await setup(reg, {}, clock);
    const h = d.enqueue('report', {}, { cron: '*/5 * * * *', tz: 'UTC' });
    await h.accepted;
    for (let i = 0; i < 4; i++) {
      clock.advanceTo(Date.UTC(2026, 0, 1, 12, 5 + i * 5, 0));
      await waitUntil(() => runs.length === i + 1);
    }
    expect(runs.map((t) => new Date(t).toISOString().slice(11, 16))).toEqual([
      '12:05',
      '12:10',
      '12:15',
      '12:20',
    ]);
    expect(await h.cancel()).toBe(true);
  });

  it('the JR facade: config, startDistributor, ready, enqueue, run', async () => {
    const reg = new JobRegistry();
    reg.define('hello', (args: { who: string }) => ({ greeting: `hello ${args.who}` }));
    JR.config.retryMultiplier = 0;
    try {
      const d = await JR.startDistributor('127.0.0.1', 0);
      expect(await JR.ready()).toBe(d);
      await JR.run({
        name: 'facade',
        distributors: [`127.0.0.1:${d.address.port}`],
        registry: reg,
        jobDirectory: undefined as never,
      });
      await waitUntil(() => d.nodes().length === 1);
      const feedback = await new Promise<JobArgs>((resolve) =>
        JR.enqueue('hello', { who: 'world' }, {}, resolve),
      );
      expect(feedback.greeting).toBe('hello world');
    } finally {
      await JR.shutdown();
    }
  });
});
