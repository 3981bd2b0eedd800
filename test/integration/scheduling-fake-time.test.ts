import { afterEach, describe, expect, it } from 'vitest';
import {
  JobRegistry,
  startDistributor,
  startNode,
  type JobArgs,
  type NodeOptions,
} from '../../src/index.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { waitUntil } from '../helpers/wait.ts';

// A real distributor and node over loopback TCP, both reading one FakeClock: the job
// timers move only when the test advances time, so minutes and days pass in milliseconds.

const open: { close?: () => Promise<void>; stop?: (o?: { timeout?: number }) => Promise<void> }[] =
  [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.({ timeout: 200 }) ?? o.close?.());
});

async function setup(registry: JobRegistry, node: Partial<NodeOptions> = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const d = await startDistributor({ port: 0, clock });
  open.push(d);
  const n = await startNode({
    name: 'n1',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry,
    clock,
    concurrency: 8,
    ...node,
  });
  open.push(n);
  await waitUntil(() => d.nodes().length === 1);
  return { d, n, clock };
}

/** Lets sockets and promise chains settle (real time, no fake timers involved). */
const settle = () => new Promise((r) => setTimeout(r, 30));

describe('scheduling - node timers under fake time', () => {
  it('after / runAt: nothing before the due time, exactly once after; far-future delays work', async () => {
    const reg = new JobRegistry();
    const runs: { name: string; at: number }[] = [];
    reg.define(
      'tick',
      (args: { label: string }, ctx) =>
        void runs.push({ name: args.label, at: ctx.runAt.getTime() }),
    );
    const { d, clock } = await setup(reg);
    const t0 = clock.now();
    d.enqueue('tick', { label: 'after2' }, { after: 2 });
    d.enqueue('tick', { label: 'sub-second' }, { after: '250ms' });
    d.enqueue('tick', { label: 'runAt' }, { runAt: new Date(t0 + 5_000) });
    d.enqueue('tick', { label: '30 days' }, { after: '30d' });
    d.enqueue('tick', { label: 'past' }, { runAt: t0 - 60_000 });
    await waitUntil(() => runs.length === 1);
    expect(runs.map((r) => r.name)).toEqual(['past']);
    clock.advance(249);
    await settle();
    expect(runs).toHaveLength(1);
    clock.advance(1);
    await waitUntil(() => runs.length === 2);
    clock.advance(1000);
    await settle();
    expect(runs).toHaveLength(2);
    clock.advance(750);
    await waitUntil(() => runs.length === 3);
    clock.advance(3_000);
    await waitUntil(() => runs.length === 4);
    expect(runs.map((r) => r.name)).toEqual(['past', 'sub-second', 'after2', 'runAt']);
    expect(runs[1]!.at - t0).toBe(250);
    expect(runs[2]!.at - t0).toBe(2000);
    expect(runs[3]!.at - t0).toBe(5000);
    // 30 days is beyond setTimeout's 24.8-day limit.
    for (let day = 0; day < 29; day++) clock.advance(86_400_000);
    await settle();
    expect(runs).toHaveLength(4);
    clock.advance(86_400_000);
    await waitUntil(() => runs.length === 5);
    expect(runs[4]!.at - t0).toBe(30 * 86_400_000);
  });

  it('period: fixed rate without drift over 1,000 periods, onSuccess after every run', async () => {
    const reg = new JobRegistry();
    const starts: number[] = [];
    reg.define('beat', (args: { n?: number }, ctx) => {
      starts.push(ctx.startedAt.getTime());
      return { n: (args.n ?? 0) + 1 };
    });
    const { d, clock } = await setup(reg);
    const t0 = clock.now();
    let feedbacks = 0;
    let lastN = 0;
    const h = d.enqueue('beat', {}, { period: 2 }, (args, info) => {
      feedbacks++;
      lastN = args.n as number;
      expect(info.final).toBe(false);
    });
    await waitUntil(() => starts.length === 1);
    for (let i = 1; i < 1000; i++) {
      clock.advance(2000);
      await waitUntil(() => starts.length === i + 1, 5000, `run ${i + 1}`, 1);
    }
    await waitUntil(() => feedbacks === 1000);
    expect(starts.every((s, i) => s === t0 + i * 2000)).toBe(true);
    // args mutations carry over from run to run
    expect(lastN).toBe(1000);
    expect(await h.cancel()).toBe(true);
    await expect(h.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    clock.advance(10_000);
    await settle();
    expect(starts).toHaveLength(1000);
  }, 60_000);

  it('period: missed slots are skipped, not bunched, and a run never overlaps the next', async () => {
    const reg = new JobRegistry();
    const starts: number[] = [];
    let release: (() => void) | undefined;
    reg.define('long', async (_args, ctx) => {
      starts.push(ctx.startedAt.getTime());
      if (starts.length === 2) await new Promise<void>((r) => (release = r));
    });
    const { d, clock } = await setup(reg);
    const t0 = clock.now();
    d.enqueue('long', {}, { period: 1 });
    await waitUntil(() => starts.length === 1);
    clock.advance(1000);
    await waitUntil(() => starts.length === 2);
    clock.advance(3500); // slots at 2 s, 3 s and 4 s pass while run 2 is still going
    await settle();
    expect(starts).toHaveLength(2);
    release!();
    await settle();
    expect(starts).toHaveLength(2);
    clock.advance(500); // t0 + 5 s: the next slot on the grid
    await waitUntil(() => starts.length === 3);
    expect(starts.map((s) => s - t0)).toEqual([0, 1000, 5000]);
  });

  it('retries after attempt × retryMultiplier seconds; the periodic attempt counter resets after a success', async () => {
    const reg = new JobRegistry();
    const attempts: { attempt: number; at: number }[] = [];
    reg.define('fails-twice', (_args, ctx) => {
      attempts.push({ attempt: ctx.attempt, at: ctx.startedAt.getTime() });
      if (ctx.attempt < 3) throw new Error('not yet');
    });
    const periodic: number[] = [];
    let runs = 0;
    reg.define('periodic-flaky', (_args, ctx) => {
      runs++;
      periodic.push(ctx.attempt);
      if (runs % 2 === 1) throw new Error('odd run fails');
    });
    const { d, clock } = await setup(reg);
    const t0 = clock.now();
    const h = d.enqueue('fails-twice', {}, { retryMultiplier: 5 });
    await waitUntil(() => attempts.length === 1);
    clock.advance(4_999);
    await settle();
    expect(attempts).toHaveLength(1);
    clock.advance(1);
    await waitUntil(() => attempts.length === 2);
    clock.advance(10_000);
    await waitUntil(() => attempts.length === 3);
    await h.result;
    expect(attempts.map((a) => a.at - t0)).toEqual([0, 5_000, 15_000]);

    d.enqueue('periodic-flaky', {}, { period: 1, maxAttempt: 2 });
    await waitUntil(() => runs === 1);
    for (let i = 2; i <= 8; i++) {
      clock.advance(1000);
      await waitUntil(() => runs === i);
    }
    // Each failure is followed by a success, so the counter never reaches maxAttempt.
    expect(periodic).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
  });

  it('backoff: exponential with a cap, and a timeout fails the attempt with TimeoutError', async () => {
    const reg = new JobRegistry();
    const at: number[] = [];
    const due: number[] = [];
    reg.define('exp', (_args, ctx) => {
      at.push(ctx.startedAt.getTime());
      due.push(ctx.runAt.getTime());
      throw new Error('again');
    });
    reg.define(
      'hangs',
      (_args, ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
        ),
    );
    const { d, clock } = await setup(reg);
    const t0 = clock.now();
    const h = d.enqueue(
      'exp',
      {},
      { maxAttempt: 5, backoff: { type: 'exponential', delay: 1000, maxDelay: 5000 } },
    );
    for (let i = 1; i <= 5; i++) {
      await waitUntil(() => at.length === i);
      clock.advance(5000);
    }
    await expect(h.result).rejects.toMatchObject({ error: { message: 'again' } });
    // Due times (ctx.runAt) follow 1 s, 2 s, 4 s, then the 5 s cap, from each failure.
    expect(due.slice(1).map((t, i) => t - at[i]!)).toEqual([1000, 2000, 4000, 5000]);
    expect(at[0]).toBe(t0);

    const t = d.enqueue('hangs', {}, { timeout: 2, maxAttempt: 1 });
    await settle();
    clock.advance(2000);
    await expect(t.result).rejects.toMatchObject({ error: { code: 'JR_ERR_TIMEOUT' } });
  });

  it('cancel: a waiting job is removed, a running one sees ctx.signal abort, a periodic one stops with no stray run', async () => {
    const reg = new JobRegistry();
    const log: string[] = [];
    reg.define('later', () => void log.push('later ran'));
    reg.define(
      'running',
      (_args, ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener('abort', () => {
            log.push(`aborted: ${(ctx.signal.reason as { code: string }).code}`);
            reject(ctx.signal.reason as Error);
          }),
        ),
    );
    reg.define('every', () => void log.push('every ran'));
    const { d, clock } = await setup(reg);
    const waiting = d.enqueue('later', {}, { after: 60 });
    await waiting.accepted;
    expect(await waiting.cancel()).toBe(true);
    await expect(waiting.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    const running = d.enqueue('running', {});
    await waitUntil(() => d.nodes()[0]!.credit === d.nodes()[0]!.window - 1);
    await settle();
    expect(await running.cancel()).toBe(true);
    await expect(running.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    const every = d.enqueue('every', {}, { period: 1 });
    await waitUntil(() => log.filter((l) => l === 'every ran').length === 1);
    expect(await every.cancel()).toBe(true);
    clock.advance(120_000);
    await settle();
    expect(log).toEqual(['aborted: JR_ERR_CANCEL', 'every ran']);
    expect(await every.cancel()).toBe(false);
  });

  it('an AbortSignal given to enqueue cancels the job', async () => {
    const reg = new JobRegistry();
    const ran: string[] = [];
    reg.define('abortable', () => void ran.push('ran'));
    const { d, clock } = await setup(reg);
    const controller = new AbortController();
    const h = d.enqueue('abortable', {}, { after: 10, signal: controller.signal });
    await h.accepted;
    controller.abort();
    await expect(h.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    clock.advance(20_000);
    await settle();
    expect(ran).toEqual([]);
    const early = new AbortController();
    early.abort();
    const never = d.enqueue('abortable', {}, { signal: early.signal });
    await expect(never.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
  });

  it('a periodic job that cancels itself gives exactly the expected feedbacks (JobReactor will_cancel)', async () => {
    const reg = new JobRegistry();
    reg.define('will_cancel', (args: { n: number }, ctx) => {
      args.n++;
      if (args.n > 3) ctx.cancel();
    });
    const { d, clock } = await setup(reg);
    const seen: JobArgs[] = [];
    const h = d.enqueue('will_cancel', { n: 1 }, { period: 2 }, (args) => void seen.push(args));
    for (let i = 0; i < 5; i++) {
      await settle();
      clock.advance(2000);
    }
    await waitUntil(() => seen.length === 3);
    await settle();
    expect(seen).toHaveLength(3);
    await expect(h.result).resolves.toBeDefined();
  });
});
