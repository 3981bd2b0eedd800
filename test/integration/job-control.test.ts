import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  JobRegistry,
  jobRef,
  startDistributor,
  startNode,
  type Distributor,
  type WorkerNode,
} from '../../src/index.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '../helpers/node-process.ts';
import {
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../helpers/redis-server.ts';
import { waitUntil } from '../helpers/wait.ts';
import { PERMIT_ASKS_IN_FLIGHT } from '../../src/protocol/messages.ts';
import { initiateHandshake } from '../../src/transport/handshake.ts';
import { connectTcp } from '../../src/transport/tcp-endpoints.ts';

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

async function setup(
  registry: JobRegistry,
  nodeOptions: Partial<Parameters<typeof startNode>[0]> = {},
  distributorOptions: Parameters<typeof startDistributor>[0] = {},
): Promise<{ d: Distributor; node: WorkerNode }> {
  const d = await startDistributor({ port: 0, ...distributorOptions });
  open.push(d);
  const node = await startNode({
    name: 'n1',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry,
    concurrency: 1,
    ...nodeOptions,
  });
  open.push(node);
  await waitUntil(() => d.nodes().length === 1, 5000, 'the node to connect');
  return { d, node };
}

/** A job that waits until `release()`; jobs behind it wait in a ready queue. */
function blocker(reg: JobRegistry, started: string[]) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  reg.define('block', async () => {
    started.push('block');
    await gate;
  });
  reg.define('tagged', (args: { tag: string }) => {
    started.push(args.tag);
  });
  return () => release();
}

/** 18 jobs of priorities 1-3, enqueued in a shuffled order (6 of each). */
const PRIORITIES = [3, 1, 2, 2, 3, 1, 1, 3, 2, 3, 2, 1, 2, 1, 3, 1, 3, 2];

describe('job control - through the public API over real TCP', () => {
  it('return values: a job that returns a string, number or array gets it to the application', async () => {
    const reg = new JobRegistry();
    reg.define('str', () => 'done');
    reg.define('num', async () => 42);
    reg.define('list', () => [1, 2]);
    reg.define('obj', () => ({ merged: true }));
    const { d } = await setup(reg);
    const seen: unknown[] = [];
    const str = d.enqueue('str', {}, {}, (args) => seen.push(args.returnValue));
    expect((await str.result).returnValue).toBe('done');
    expect((await d.enqueue('num').result).returnValue).toBe(42);
    expect((await d.enqueue('list').result).returnValue).toEqual([1, 2]);
    const obj = await d.enqueue('obj').result;
    expect(obj).toEqual({ merged: true });
    expect(seen).toEqual(['done']);
  });

  it('priorities: one node at concurrency 1, 18 jobs waiting on it start 1…1, 2…2, 3…3', async () => {
    const reg = new JobRegistry();
    const started: string[] = [];
    const release = blocker(reg, started);
    const { d } = await setup(reg);
    const first = d.enqueue('block');
    await waitUntil(() => started.length === 1, 5000, 'the blocker to start');
    const handles = PRIORITIES.map((priority, i) =>
      d.enqueue('tagged', { tag: `${priority}:${i}` }, { priority }),
    );
    await Promise.all(handles.map((h) => h.accepted)); // all prefetched on the node
    release();
    await Promise.all([first.result, ...handles.map((h) => h.result)]);
    const priorities = started.slice(1).map((t) => Number(t.split(':')[0]));
    expect(priorities).toEqual([...PRIORITIES].sort((a, b) => a - b));
    // Ties keep their enqueue order.
    const ofOne = started.filter((t) => t.startsWith('1:')).map((t) => Number(t.split(':')[1]));
    expect(ofOne).toEqual([...ofOne].sort((a, b) => a - b));
  });

  it("priorities: jobs waiting in the distributor's queue (no prefetch) leave in priority order", async () => {
    const reg = new JobRegistry();
    const started: string[] = [];
    const release = blocker(reg, started);
    const { d } = await setup(reg, { prefetch: 0 });
    const first = d.enqueue('block');
    await waitUntil(() => started.length === 1, 5000, 'the blocker to start');
    const handles = PRIORITIES.map((priority, i) =>
      d.enqueue('tagged', { tag: `${priority}:${i}` }, { priority }),
    );
    expect(d.stats().waiting).toBe(18);
    release();
    await Promise.all([first.result, ...handles.map((h) => h.result)]);
    const priorities = started.slice(1).map((t) => Number(t.split(':')[0]));
    expect(priorities).toEqual([...PRIORITIES].sort((a, b) => a - b));
  });

  it('priorities: bad values are typed errors at enqueue', async () => {
    const reg = new JobRegistry();
    reg.define('j', () => undefined);
    const { d } = await setup(reg);
    for (const priority of [0, -1, 1.5, 2 ** 21 + 1, '1', Number.NaN]) {
      expect(() => d.enqueue('j', {}, { priority } as never)).toThrow(/priority must be/);
    }
  });
});

describe('job control - repeat limits', () => {
  it('limit: a period job runs that many times; its last success is final and says so', async () => {
    const reg = new JobRegistry();
    let runs = 0;
    reg.define('tick', () => ({ count: ++runs }));
    const { d } = await setup(reg, { concurrency: 4 });
    const infos: { final: boolean; runs?: number }[] = [];
    const h = d.enqueue('tick', {}, { period: '10ms', limit: 3 }, (_args, info) =>
      infos.push({ final: info.final, ...(info.runs !== undefined ? { runs: info.runs } : {}) }),
    );
    const result = await h.result;
    expect(result.count).toBe(3);
    expect(infos).toEqual([
      { final: false, runs: 1 },
      { final: false, runs: 2 },
      { final: true, runs: 3 },
    ]);
    await new Promise((r) => setTimeout(r, 50));
    expect(runs).toBe(3); // nothing after the last
  });

  it('endAt: a period job runs no slot after it, and its last run is final', async () => {
    const reg = new JobRegistry();
    const slots: number[] = [];
    reg.define('tick', (_args, ctx) => {
      slots.push(ctx.runAt.getTime());
    });
    const { d } = await setup(reg, { concurrency: 4 });
    const endAt = Date.now() + 120;
    const h = d.enqueue('tick', {}, { period: '25ms', endAt });
    await h.result;
    expect(slots.length).toBeGreaterThanOrEqual(1);
    for (const slot of slots) expect(slot).toBeLessThanOrEqual(endAt);
  });

  it('limit and endAt: bad values are typed errors at enqueue', async () => {
    const reg = new JobRegistry();
    reg.define('j', () => undefined);
    const { d } = await setup(reg);
    expect(() => d.enqueue('j', {}, { limit: 3 })).toThrow(/limit only applies to period and cron/);
    expect(() => d.enqueue('j', {}, { period: '1s', limit: 0 })).toThrow(/limit must be a whole/);
    expect(() => d.enqueue('j', {}, { period: '1s', limit: 1.5 })).toThrow(/limit must be a whole/);
    expect(() => d.enqueue('j', {}, { period: '1s', endAt: Date.now() - 1000 })).toThrow(
      /endAt must be in the future/,
    );
    expect(() =>
      d.enqueue('j', {}, { period: '1s', runAt: Date.now() + 60_000, endAt: Date.now() + 1000 }),
    ).toThrow(/endAt is before the first run/);
  });
});

describe('job control - pause and resume', () => {
  it('distributor: no job leaves while paused; resume sends them, by priority', async () => {
    const reg = new JobRegistry();
    const started: string[] = [];
    reg.define('tagged', (args: { tag: string }) => {
      started.push(args.tag);
    });
    const { d } = await setup(reg);
    const events: string[] = [];
    d.on('paused', () => events.push('paused'));
    d.on('resumed', () => events.push('resumed'));
    await d.pause();
    await d.pause(); // no-op
    expect(d.paused).toBe(true);
    const handles = [3, 1, 2].map((priority) =>
      d.enqueue('tagged', { tag: `p${priority}` }, { priority }),
    );
    const dispatched: string[] = [];
    d.on('job:dispatched', (id) => dispatched.push(id));
    await new Promise((r) => setTimeout(r, 100));
    expect(dispatched).toEqual([]);
    expect(d.stats().waiting).toBe(3);
    await d.resume();
    await Promise.all(handles.map((h) => h.result));
    expect(started).toEqual(['p1', 'p2', 'p3']);
    expect(events).toEqual(['paused', 'resumed']);
  });

  it('node: starts nothing while paused (timers keep their due times); resume starts them in due order', async () => {
    const reg = new JobRegistry();
    const started: string[] = [];
    reg.define('tagged', (args: { tag: string }) => {
      started.push(args.tag);
    });
    const { d, node } = await setup(reg, { concurrency: 4 });
    const statuses: boolean[] = [];
    d.on('node:status', (info) => statuses.push(info.paused));
    // Sent before the pause: they sit on the node's timers. (Hundreds of ms: on a loaded
    // machine the pause itself may come tens of ms after their acceptance.)
    const delayed = [800, 400, 1200].map((ms) =>
      d.enqueue('tagged', { tag: `after${ms}` }, { after: `${ms}ms` }),
    );
    await Promise.all(delayed.map((h) => h.accepted));
    await node.pause();
    expect(node.paused).toBe(true);
    await waitUntil(() => statuses.includes(true), 5000, 'the distributor to hear of the pause');
    // Sent while the node is paused: the distributor keeps them.
    const instant = d.enqueue('tagged', { tag: 'instant' });
    await new Promise((r) => setTimeout(r, 1300)); // every delayed job is due by now
    expect(started).toEqual([]);
    expect(d.stats().waiting).toBe(1);
    await node.resume();
    await Promise.all([...delayed, instant].map((h) => h.result));
    expect(started.slice(0, 3)).toEqual(['after400', 'after800', 'after1200']);
    expect(started).toContain('instant');
  });

  it('node: startNode({ paused: true }) starts nothing until resume()', async () => {
    const reg = new JobRegistry();
    let ran = 0;
    reg.define('count', () => {
      ran++;
    });
    const { d, node } = await setup(reg, { paused: true });
    const h = d.enqueue('count');
    await new Promise((r) => setTimeout(r, 100));
    expect(ran).toBe(0);
    await node.resume();
    await h.result;
    expect(ran).toBe(1);
  });
});

describe('job control - pause and resume a CLI node process', () => {
  it('--paused starts nothing; SIGUSR2 resumes, SIGTSTP pauses again', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const proc = spawnNode({
      name: 'cli-paused',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      extra: ['--paused'],
    });
    open.push({ stop: async () => (proc.kill(), void (await proc.exited)) });
    // Told in a status right after the handshake.
    await waitUntil(() => d.nodes()[0]?.paused === true, 15_000, 'the paused node to connect');
    const first = d.enqueue('it.echo', {});
    let done = false;
    void first.result.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    proc.kill('SIGUSR2');
    expect((await first.result).node).toBe('cli-paused');
    proc.kill('SIGTSTP');
    await waitUntil(() => d.nodes()[0]?.paused === true, 5000, 'the pause to be told');
    const second = d.enqueue('it.echo', {});
    await new Promise((r) => setTimeout(r, 200));
    expect(d.stats().waiting).toBe(1);
    proc.kill('SIGUSR2');
    await second.result;
  });
});

describe('job control - progress', () => {
  it('ctx.progress: job:progress events and onProgress in order, coalesced, the last before the result', async () => {
    const reg = new JobRegistry();
    reg.define('work', async (_args, ctx) => {
      for (let i = 1; i <= 100; i++) ctx.progress(i); // a tight loop: coalesced
      await new Promise((r) => setTimeout(r, 150)); // past the window: sent alone
      ctx.progress({ stage: 'upload', pct: 50 });
      const { progress } = ctx; // destructured works too
      progress({ stage: 'done', pct: 100 });
      return 'ok';
    });
    const { d } = await setup(reg);
    const events: unknown[] = [];
    d.on('job:progress', (p) => events.push(p.value));
    const fromOption: unknown[] = [];
    const fromHandle: unknown[] = [];
    const order: string[] = [];
    const h = d
      .enqueue('work', {}, { onProgress: (v) => fromOption.push(v) }, () => order.push('success'))
      .onProgress((v, job) => {
        fromHandle.push(v);
        expect(job.name).toBe('work');
        order.push('progress');
      });
    expect((await h.result).returnValue).toBe('ok');
    // Coalesced: far fewer reports than calls, and always the latest values.
    expect(fromOption.length).toBeLessThan(10);
    expect(fromOption[0]).toBe(100); // one turn's reports: only the latest goes
    expect(fromOption).toContain(100);
    expect(fromOption.at(-1)).toEqual({ stage: 'done', pct: 100 });
    expect(fromHandle).toEqual(fromOption);
    expect(events).toEqual(fromOption);
    expect(order.at(-1)).toBe('success');
  });

  it('ctx.progress: a bad value throws into the job (typed), and the job decides', async () => {
    const reg = new JobRegistry();
    const errors: string[] = [];
    reg.define('bad', (_args, ctx) => {
      for (const value of [Number.NaN, 'text', [1], { big: 'x'.repeat(5000) }, { d: new Date() }]) {
        try {
          ctx.progress(value as never);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError);
          errors.push((err as Error).message);
        }
      }
    });
    const { d } = await setup(reg);
    await d.enqueue('bad').result;
    expect(errors).toHaveLength(5);
    expect(errors[3]).toMatch(/over the 4096 allowed/);
  });

  it('ctx.progress from a worker thread (defer: true) reaches the application', async () => {
    const dir = fileURLToPath(new URL('../fixtures/defer-jobs/', import.meta.url));
    // The default registry: the job directory defines its jobs there (and in the thread).
    const { d } = await setup(undefined as never, { jobDirectory: dir, threads: 1 });
    const seen: unknown[] = [];
    await d.enqueue('defer.progress', {}, { defer: true, onProgress: (v) => seen.push(v) }).result;
    expect(seen.at(-1)).toBe(100);
  });
});

describe('job control - getJob and counts', () => {
  it('getJob: waiting, running (with progress), scheduled, unknown; counts per node and in total', async () => {
    const reg = new JobRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    reg.define('hold', async (_args, ctx) => {
      ctx.progress(42);
      await gate;
    });
    reg.define('later', () => undefined);
    const { d } = await setup(reg, { concurrency: 1 });
    const running = d.enqueue('hold', { n: 1 }, { priority: 5 });
    await waitUntil(async () => (await d.getJob(running.id))?.progress === 42, 5000, 'progress');
    const view = await d.getJob(running.id);
    expect(view).toMatchObject({
      id: running.id,
      name: 'hold',
      state: 'in progress',
      node: 'n1',
      attempt: 1,
      delivery: 1,
      args: { n: 1 },
      priority: 5,
      progress: 42,
    });
    expect(view!.dueAt).toBeInstanceOf(Date);
    const delayed = d.enqueue('later', {}, { after: '1h' });
    await delayed.accepted;
    expect(await d.getJob(delayed.id)).toMatchObject({ state: 'new', node: 'n1' });
    const ready = d.enqueue('later');
    await ready.accepted;
    expect(await d.getJob(ready.id)).toMatchObject({ state: 'new', node: 'n1' });
    expect(await d.getJob('no-such-job')).toBeNull();
    await d.pause();
    const waiting = d.enqueue('later');
    expect(await d.getJob(waiting.id)).toMatchObject({ state: 'waiting', node: null });
    const counts = await d.counts();
    expect(counts.nodes.n1).toEqual({ running: 1, ready: 1, scheduled: 1, complete: 0, failed: 0 });
    expect(counts.distributor).toEqual({ waiting: 1, sent: 0 });
    expect(counts.total).toMatchObject({ running: 1, ready: 1, scheduled: 1, waiting: 1 });
    await d.resume();
    release();
    await Promise.all([running.result, ready.result, waiting.result]);
    await delayed.cancel();
  });

  it('retention (memory): kept failed jobs bounded by count, visible to getJob and counts', async () => {
    const reg = new JobRegistry();
    reg.define('boom', () => {
      throw new Error('boom');
    });
    const { d } = await setup(reg, {
      concurrency: 4,
      maxAttempt: 1,
      keep: { failed: { count: 3 } },
    });
    const handles = Array.from({ length: 6 }, () => d.enqueue('boom'));
    await Promise.allSettled(handles.map((h) => h.result));
    await waitUntil(async () => (await d.counts()).nodes.n1?.failed === 3, 5000, 'retention');
    // The three newest are kept, the first three were removed.
    const seen = await Promise.all(handles.map((h) => d.getJob(h.id)));
    expect(seen.map((v) => v?.state ?? null)).toEqual([
      null,
      null,
      null,
      'failed',
      'failed',
      'failed',
    ]);
    expect(seen[5]!.lastError).toMatchObject({ message: 'boom' });
  });

  it('strict options: an unknown node option is a typed error naming the key', async () => {
    await expect(
      startNode({ name: 'x', distributors: [], registry: new JobRegistry(), attempts: 3 } as never),
    ).rejects.toThrow(/unknown node option 'attempts': use 'maxAttempt'/);
  });
});

let redis: RedisServer | undefined;
describe.skipIf(!redisAvailable())('job control - durable nodes (real redis-server)', () => {
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('retention (redis): kept jobs bounded by count and age, rebuilt after a restart', async () => {
    const reg = new JobRegistry();
    reg.define('ok', () => undefined);
    const prefix = randomPrefix();
    const opts = {
      storage: redis!.url,
      redisPrefix: prefix,
      concurrency: 4,
      removeDoneJobs: false,
      keep: { complete: { count: 4, age: 2 } },
    };
    const { d, node } = await setup(reg, opts);
    const first = Array.from({ length: 6 }, () => d.enqueue('ok'));
    await Promise.all(first.map((h) => h.result));
    await waitUntil(async () => (await d.counts()).nodes.n1?.complete === 4, 5000, 'count bound');
    const views = await Promise.all(first.map((h) => d.getJob(h.id)));
    expect(views.filter((v) => v === null)).toHaveLength(2); // the two that ended first
    expect(views.filter((v) => v?.state === 'complete')).toHaveLength(4);
    // A restarted node finds its kept jobs and goes on bounding them.
    await node.stop();
    open.splice(open.indexOf(node), 1);
    const again = await startNode({
      name: 'n1',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      ...opts,
    });
    open.push(again);
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node to reconnect');
    expect((await d.counts()).nodes.n1?.complete).toBe(4);
    // And by age: 2 s after they ended, they go (one timer, no polling).
    await waitUntil(async () => (await d.counts()).nodes.n1?.complete === 0, 8000, 'age bound');
    expect(await Promise.all(first.map((h) => d.getJob(h.id)))).toEqual(first.map(() => null));
  });
});

/**
 * Start times (ms, as the job saw them) put no more than `max` in a window of `duration`.
 * The limiter decides a start exactly; the job's own clock reading comes a little after
 * (the start is told, the turn's write goes out), and by more on a loaded machine, so the
 * window is checked with a quarter of it as slack. Without the limit, all start at once.
 */
function expectWithin(starts: number[], max: number, duration: number): void {
  const sorted = [...starts].sort((a, b) => a - b);
  for (let i = max; i < sorted.length; i++) {
    expect(sorted[i]! - sorted[i - max]!).toBeGreaterThanOrEqual(duration * 0.75);
  }
}

describe('job control - rate limits', () => {
  it('node limiter: at most max starts per duration, every kind counted, delayed ones too', async () => {
    const reg = new JobRegistry();
    const starts: number[] = [];
    reg.define('a', () => void starts.push(Date.now()));
    reg.define('b', () => void starts.push(Date.now()));
    const { d } = await setup(reg, { concurrency: 8, limiter: { max: 3, duration: 300 } });
    const handles = [
      ...Array.from({ length: 5 }, () => d.enqueue('a')),
      ...Array.from({ length: 4 }, () => d.enqueue('b', {}, { after: '20ms' })),
    ];
    await Promise.all(handles.map((h) => h.result));
    expect(starts).toHaveLength(9);
    expectWithin(starts, 3, 300);
  });

  it('distributor limits: a name is capped across two nodes; other names run freely', async () => {
    const reg = new JobRegistry();
    const mail: number[] = [];
    let free = 0;
    reg.define('mail', () => void mail.push(Date.now()));
    reg.define('free', () => void free++);
    const d = await startDistributor({ port: 0, limits: { mail: { max: 2, duration: 300 } } });
    open.push(d);
    for (const name of ['l1', 'l2']) {
      const n = await startNode({
        name,
        distributors: [`127.0.0.1:${d.address.port}`],
        registry: reg,
        concurrency: 4,
      });
      open.push(n);
    }
    await waitUntil(() => d.nodes().length === 2, 5000, 'two nodes');
    const t0 = Date.now();
    const mails = Array.from({ length: 6 }, () => d.enqueue('mail'));
    const frees = Array.from({ length: 20 }, () => d.enqueue('free'));
    await Promise.all(frees.map((h) => h.result));
    expect(free).toBe(20);
    await Promise.all(mails.map((h) => h.result));
    expect(mail).toHaveLength(6);
    expectWithin(mail, 2, 300);
    // 6 starts at 2 per 300 ms need at least two more windows after the first.
    expect(Math.max(...mail) - t0).toBeGreaterThanOrEqual(2 * 300 - 1);
  });

  it('distributor limits: more jobs due than asks in flight; they ask as grants come, all complete', async () => {
    const reg = new JobRegistry();
    let ran = 0;
    reg.define('mail', () => void ran++);
    const d = await startDistributor({ port: 0, limits: { mail: { max: 400, duration: 100 } } });
    open.push(d);
    const errors: Error[] = [];
    d.on('protocol:error', (_remote, err) => void errors.push(err));
    const n = await startNode({
      name: 'many',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      concurrency: 8,
    });
    open.push(n);
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
    // Half again as many as the node may ask for at once: the rest ask as grants come.
    const count = Math.floor(PERMIT_ASKS_IN_FLIGHT * 1.5);
    const handles = Array.from({ length: count }, () => d.enqueue('mail'));
    await Promise.all(handles.map((h) => h.result));
    expect(ran).toBe(count);
    expect(errors).toEqual([]);
    expect(d.nodes()).toHaveLength(1); // never dropped for asking too much
  });

  it('distributor limits: a peer that asks for more permits than allowed at once is closed', async () => {
    const d = await startDistributor({ port: 0, limits: { mail: { max: 1, duration: 60_000 } } });
    open.push(d);
    const errors: Error[] = [];
    d.on('protocol:error', (_remote, err) => void errors.push(err));
    const conn = await connectTcp('127.0.0.1', d.address.port);
    const closed = new Promise<Error | undefined>((resolve) => conn.onClose(resolve));
    await initiateHandshake(conn, {
      hello: {
        node: 'greedy',
        instance: 'i1',
        capacity: 1,
        window: 1,
        windowBytes: 1024,
        durable: true,
        jobs: ['mail'],
      },
    });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the raw node');
    // Within the bound: queued (one granted, the rest wait a minute for the window).
    const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `j${from + i}`);
    conn.send({
      t: 'permits',
      ids: ids(0, PERMIT_ASKS_IN_FLIGHT),
      names: ids(0, PERMIT_ASKS_IN_FLIGHT).map(() => 'mail'),
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual([]);
    // One more than the bound (the grant answered one): refused, the link closed.
    conn.send({ t: 'permits', ids: ids(PERMIT_ASKS_IN_FLIGHT, 2), names: ['mail', 'mail'] });
    await closed;
    await waitUntil(() => errors.length === 1, 5000, 'protocol:error');
    expect(errors[0]).toMatchObject({ code: 'JR_ERR_PROTOCOL' });
    expect(errors[0]!.message).toMatch(/asked for 1001 start permits at once/);
    await waitUntil(() => d.nodes().length === 0, 5000, 'the raw node gone');
  });

  it('limits: bad values are typed errors', async () => {
    await expect(
      startDistributor({ port: 0, limits: { mail: { max: 0, duration: 1 } } }),
    ).rejects.toThrow(/limits\['mail'\].max must be/);
    await expect(
      startNode({
        name: 'x',
        distributors: [],
        registry: new JobRegistry(),
        limiter: { max: 1 },
      } as never),
    ).rejects.toThrow(/limiter.duration must be/);
  });
});

describe('job control - mends', () => {
  it('typed references: interfaces as args, and jobRef<A>(name) without the job file', async () => {
    interface Resize {
      url: string;
      width: number;
      bytes?: number;
    }
    const reg = new JobRegistry();
    reg.define('images.resize', (args: Resize) => ({ bytes: args.width * 10 }));
    const { d } = await setup(reg);
    const ref = jobRef<Resize>('images.resize');
    const result = await d.enqueue(ref, { url: 'u', width: 32 }).result;
    const bytes: number | undefined = result.bytes; // typed from the interface
    expect(bytes).toBe(320);
    // @ts-expect-error width must be a number
    expect(() => d.enqueue(ref, { url: 'u', width: 'wide' })).not.toThrow();
    expect(() => jobRef('bad name!')).toThrow(/job name must be/);
  });

  function capture() {
    const lines: { level: string; msg: string }[] = [];
    const at = (level: string) => (obj: unknown, msg?: string) =>
      void lines.push({ level, msg: typeof obj === 'string' ? obj : (msg ?? '') });
    return {
      lines,
      logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    };
  }

  it('a job directory that defines no job, or defines them with another copy of job-reactor, is warned about', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const empty = mkdtempSync(join(tmpdir(), 'jr-empty-'));
    const a = capture();
    const n1 = await startNode({
      name: 'empty-dir',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: new JobRegistry(),
      jobDirectory: empty,
      logger: a.logger,
    });
    open.push(n1);
    expect(a.lines.find((l) => l.level === 'warn')?.msg).toMatch(/has no \.js or \.ts job file/);

    // Another copy of the library, as a second install would register itself.
    const other = new JobRegistry();
    const copies = (globalThis as Record<symbol, unknown>)[Symbol.for('job-reactor.copies')] as {
      url: string;
      registry: JobRegistry;
    }[];
    copies.push({
      url: 'file:///elsewhere/node_modules/job-reactor/dist/index.js',
      registry: other,
    });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'jr-copy-'));
      writeFileSync(
        join(dir, 'jobs.mjs'),
        "const c = globalThis[Symbol.for('job-reactor.copies')].find((x) => x.url.includes('/elsewhere/'));\nc.registry.define('lost.job', () => {});\n",
      );
      const b = capture();
      const n2 = await startNode({
        name: 'other-copy',
        distributors: [`127.0.0.1:${d.address.port}`],
        registry: new JobRegistry(),
        jobDirectory: dir,
        logger: b.logger,
      });
      open.push(n2);
      const warns = b.lines.filter((l) => l.level === 'warn').map((l) => l.msg);
      expect(warns.some((m) => m.includes('another copy of job-reactor'))).toBe(true);
      expect(warns.some((m) => m.includes('define no job'))).toBe(true);
    } finally {
      copies.splice(
        copies.findIndex((c) => c.registry === other),
        1,
      );
    }
  });

  it("enqueueMany items in BullMQ's addBulk shape say what to use", async () => {
    const reg = new JobRegistry();
    reg.define('j', () => undefined);
    const { d } = await setup(reg);
    expect(() => d.enqueueMany([{ name: 'j', data: {} } as never])).toThrow(
      /unknown enqueueMany item option 'name': use 'job'/,
    );
    expect(() => d.enqueueMany([{ job: 'j', opts: {} } as never])).toThrow(/'opts': use 'options'/);
    expect(d.stats().tracked).toBe(0); // none was enqueued
  });

  it('enqueue(42) names 42; Date args say what to send instead', async () => {
    const reg = new JobRegistry();
    reg.define('j', () => undefined);
    const { d } = await setup(reg);
    expect(() => d.enqueue(42 as never)).toThrow(/\(got 42\)/);
    expect(() => d.enqueue('j', { when: new Date() })).toThrow(
      /args\.when is a Date.*epoch ms.*ISO string/,
    );
  });
});

describe('job control - through a real CLI node process', () => {
  it('priorities, progress, getJob/counts and --limiter on a `jobreactor node` child process', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const proc = spawnNode({
      name: 'cli-control',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      concurrency: 1,
      extra: ['--paused', '--limiter', '4/300'],
    });
    open.push({ stop: async () => (proc.kill(), void (await proc.exited)) });
    await waitUntil(() => d.nodes()[0]?.paused === true, 15_000, 'the paused node');
    // While the node is paused the distributor keeps them: they leave by priority.
    const priorities = [3, 1, 2, 3, 1, 2, 1, 3];
    const progress: unknown[] = [];
    const handles = priorities.map((priority) =>
      d.enqueue('it.ordered', {}, { priority, onProgress: (v) => progress.push(v) }),
    );
    const first = await d.getJob(handles[0]!.id);
    expect(first).toMatchObject({ state: 'waiting', node: null, priority: 3 });
    expect((await d.counts()).distributor.waiting).toBe(8);
    proc.kill('SIGUSR2');
    const results = await Promise.all(handles.map((h) => h.result));
    const byOrder = results
      .map((r, i) => ({ order: r.order as number, priority: priorities[i]! }))
      .sort((a, b) => a.order - b.order);
    expect(byOrder.map((r) => r.priority)).toEqual([1, 1, 1, 2, 2, 3, 3, 3]);
    expect(progress).toHaveLength(8); // each job's one report, before its result
    expectWithin(
      results.map((r) => r.at as number),
      4,
      300,
    );
  });
});
