import { afterEach, describe, expect, it } from 'vitest';
import {
  JobFailedError,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type JobArgs,
  type WorkerNode,
} from '../../src/index.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

async function setup(
  registry: JobRegistry,
  nodeNames = ['n1'],
  extra: Partial<Parameters<typeof startNode>[0]> = {},
) {
  const d = await startDistributor({ port: 0 });
  open.push(d);
  const addr = `127.0.0.1:${d.address.port}`;
  const nodes: WorkerNode[] = [];
  for (const name of nodeNames) {
    const n = await startNode({ name, distributors: [addr], registry, concurrency: 4, ...extra });
    open.push(n);
    nodes.push(n);
  }
  await waitUntil(() => d.nodes().length === nodeNames.length, 5000, 'nodes to connect');
  return { d, nodes, addr };
}

describe('in-process - distributor and node over real TCP', () => {
  it('frame limits differ: each side sends frames the other takes; a job too big for one node goes to another', async () => {
    const reg = new JobRegistry();
    reg.define('echo', (args: { i: number; blob?: string }) => ({
      i: args.i,
      len: args.blob?.length,
    }));
    // The distributor takes frames up to 1 MiB, the small node 64 KiB: a burst makes
    // frames of both sizes' worth (it used to cut the small node on every reconnect).
    const warnings: string[] = [];
    const quiet = () => undefined;
    const logger = {
      debug: quiet,
      info: quiet,
      error: quiet,
      warn: (_: unknown, m?: string) => void warnings.push(m ?? ''),
    };
    const d = await startDistributor({ port: 0, maxFrameSize: 1024 * 1024, logger });
    open.push(d);
    const addr = `127.0.0.1:${d.address.port}`;
    const small = await startNode({
      name: 'small',
      distributors: [addr],
      registry: reg,
      concurrency: 64,
      maxFrameSize: 64 * 1024,
    });
    open.push(small);
    await waitUntil(() => d.nodes().length === 1, 5000, 'the small node');
    let drops = 0;
    d.on('node:disconnected', () => void drops++);
    const burst = Array.from({ length: 5000 }, (_, i) => ({
      job: 'echo',
      args: { i },
      options: { after: 0.2 },
    }));
    const results = await Promise.all(d.enqueueMany(burst).map((h) => h.result));
    expect(results.map((r) => r.i)).toEqual(burst.map((b) => b.args.i));
    expect(drops).toBe(0);
    // A job of ~200 KiB: over the small node's limit, so it waits (it is not refused)…
    const big = d.enqueue('echo', { i: -1, blob: 'x'.repeat(200 * 1024) });
    const seen: string[] = [];
    void big.accepted.then((a) => seen.push(a.node));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    expect((await d.counts()).distributor.waiting).toBe(1);
    // The operator is told why, once (the burst above fitted, so this is the only line).
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(
        `^job ${big.id} \\(echo\\) waits: it is \\d+ bytes encoded, and every node that could run it takes at most \\d+$`,
      ),
    );
    // …until a node that can take it connects; and its feedback, over 64 KiB, comes back.
    const large = await startNode({ name: 'large', distributors: [addr], registry: reg });
    open.push(large);
    expect((await big.result).len).toBe(200 * 1024);
    expect(seen).toEqual(['large']);
    expect(drops).toBe(0);
  }, 30_000);

  it('prefetch is fair across distributors: a later one does not wait behind all of the first', async () => {
    const reg = new JobRegistry();
    const order: string[] = [];
    reg.define('slow', async (args: { tag: string }) => {
      order.push(args.tag);
      await new Promise((r) => setTimeout(r, 5));
    });
    const a = await startDistributor({ port: 0, id: 'dist-a' });
    const b = await startDistributor({ port: 0, id: 'dist-b' });
    open.push(a, b);
    const node = await startNode({
      name: 'fair',
      distributors: [`127.0.0.1:${a.address.port}`, `127.0.0.1:${b.address.port}`],
      registry: reg,
      concurrency: 1,
      prefetch: 100,
    });
    open.push(node);
    await waitUntil(() => a.nodes().length === 1 && b.nodes().length === 1, 5000, 'both links');
    const fromA = Array.from({ length: 40 }, (_, i) => a.enqueue('slow', { tag: `a${i}` }));
    await Promise.all(fromA.map((h) => h.accepted)); // all 40 prefetched on the node
    const fromB = Array.from({ length: 10 }, (_, i) => b.enqueue('slow', { tag: `b${i}` }));
    await Promise.all([...fromA, ...fromB].map((h) => h.result));
    // B's jobs take turns with A's from their arrival: all of B's start before A's 30th.
    const lastB = order.indexOf('b9');
    const firstB = order.indexOf('b0');
    expect(lastB).toBeLessThan(order.indexOf('a29'));
    expect(
      order.slice(firstB, lastB + 1).filter((t) => t.startsWith('a')).length,
    ).toBeLessThanOrEqual(10);
    // Each distributor's own jobs keep their order.
    expect(order.filter((t) => t.startsWith('a'))).toEqual(fromA.map((_, i) => `a${i}`));
    expect(order.filter((t) => t.startsWith('b'))).toEqual(fromB.map((_, i) => `b${i}`));
  });

  it('runs a job and returns the final args to result and onSuccess', async () => {
    const reg = new JobRegistry();
    reg.define('square', (args: { n: number }, ctx) => ({
      square: args.n * args.n,
      node: ctx.node,
    }));
    const { d } = await setup(reg);
    let fromFeedback: JobArgs | undefined;
    const h = d.enqueue('square', { n: 7 }, {}, (args) => (fromFeedback = args));
    expect(h.id).toMatch(/^[0-9A-Z_a-z~]{22}$/);
    await expect(h.accepted).resolves.toEqual({ node: 'n1' });
    await expect(h.result).resolves.toEqual({ n: 7, square: 49, node: 'n1' });
    expect(fromFeedback).toEqual({ n: 7, square: 49, node: 'n1' });
  });

  it('runs callbacks in order with args flowing to the feedback; errbacks get the error', async () => {
    const reg = new JobRegistry();
    const order: string[] = [];
    reg.define('chain', async () => {
      order.push('job');
      return { a: 1 };
    });
    reg.callback('chain', 'one', (args) => {
      order.push('one');
      return { b: (args.a as number) + 1 };
    });
    reg.callback('chain', 'two', async (args) => {
      order.push('two');
      args.c = (args.b as number) + 1;
    });
    reg.define('boom', () => {
      throw new RangeError('out of range');
    });
    reg.callback('boom', 'skipped', () => void order.push('skipped'));
    reg.errback('boom', 'e1', (args) => ({ sawCode: args.error.code, sawName: args.error.name }));
    reg.errback('boom', 'e2', () => void order.push('e2'));
    const { d } = await setup(reg, ['n1'], { maxAttempt: 1 });
    await expect(d.enqueue('chain', {}).result).resolves.toEqual({ a: 1, b: 2, c: 3 });
    expect(order).toEqual(['job', 'one', 'two']);
    let errorArgs: JobArgs | undefined;
    const failed = d.enqueue('boom', { x: 1 }, {}, undefined, (args) => (errorArgs = args));
    const err = await failed.result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).error).toMatchObject({
      name: 'RangeError',
      message: 'out of range',
    });
    expect(errorArgs).toMatchObject({ x: 1, sawCode: 'JR_ERR_JOB_THREW', sawName: 'RangeError' });
    expect(order).toEqual(['job', 'one', 'two', 'e2']);
  });

  it('retries a failing job exactly maxAttempt times, then one error feedback', async () => {
    const reg = new JobRegistry();
    let runs = 0;
    reg.define('flaky', () => {
      runs++;
      throw new Error('nope');
    });
    const { d } = await setup(reg, ['n1'], { retryMultiplier: 0 });
    let errors = 0;
    const h = d.enqueue('flaky', {}, { maxAttempt: 4 }, undefined, () => void errors++);
    await expect(h.result).rejects.toThrow(/nope/);
    expect(runs).toBe(4);
    expect(errors).toBe(1);
  });

  it('an unknown job name gets a typed error feedback; a throwing feedback callback is an event', async () => {
    const reg = new JobRegistry();
    reg.define('ok', () => {});
    const { d } = await setup(reg);
    const h = d.enqueue('missing', {});
    await expect(h.result).rejects.toMatchObject({ error: { code: 'JR_ERR_UNKNOWN_JOB' } });
    const threw: string[] = [];
    d.on('feedback:threw', (e) => threw.push(e.code));
    const h2 = d.enqueue('ok', {}, {}, () => {
      throw new Error('app bug');
    });
    await h2.result;
    await waitUntil(() => threw.length === 1);
    expect(threw).toEqual(['JR_ERR_FEEDBACK_HANDLER']);
    const h3 = d.enqueue('ok', {}, {}, async () => Promise.reject(new Error('async app bug')));
    await h3.result;
    await waitUntil(() => threw.length === 2);
  });

  it('a job defined after the node connected is announced to the distributor', async () => {
    const reg = new JobRegistry();
    reg.define('early', () => {});
    const { d } = await setup(reg);
    reg.define('late', () => ({ late: true }));
    await waitUntil(() => d.nodes()[0]!.jobs.includes('late'));
    await expect(d.enqueue('late', {}).result).resolves.toEqual({ late: true });
  });

  it('queues jobs while no node is connected and runs them when one connects', async () => {
    const reg = new JobRegistry();
    reg.define('later', (args: { i: number }) => ({ done: args.i }));
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const handles = Array.from({ length: 25 }, (_, i) => d.enqueue('later', { i }));
    expect(d.stats().waiting).toBe(25);
    const n = await startNode({
      name: 'late',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      concurrency: 3,
    });
    open.push(n);
    const results = await Promise.all(handles.map((h) => h.result));
    expect(results.map((r) => r.done)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(d.stats().waiting).toBe(0);
  });

  it('fails enqueue with QueueFullError past the waiting bound, and rejects bad input', async () => {
    const d = await startDistributor({ port: 0, maxWaiting: 2 });
    open.push(d);
    d.enqueue('x', {});
    d.enqueue('x', {});
    expect(() => d.enqueue('x', {})).toThrow(
      expect.objectContaining({ code: 'JR_ERR_QUEUE_FULL' }),
    );
    expect(() => d.enqueue('x', {}, { after: -1 })).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => d.enqueue('bad name!', {})).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => d.enqueue('x', {}, { cron: 'not a cron' })).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
  });

  it('args or options whose getters or Proxy traps throw: enqueue throws InvalidArgumentError with that cause, and tracks nothing', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const boom = new Error('boom');
    const hostile: [string, object][] = [
      [
        'getter',
        {
          get x() {
            throw boom;
          },
        },
      ],
      [
        'ownKeys trap',
        new Proxy(
          {},
          {
            ownKeys: () => {
              throw boom;
            },
          },
        ),
      ],
      [
        'get trap',
        new Proxy(
          { a: 1 },
          {
            get: () => {
              throw boom;
            },
          },
        ),
      ],
      [
        'getPrototypeOf trap',
        new Proxy(
          {},
          {
            getPrototypeOf: () => {
              throw boom;
            },
          },
        ),
      ],
    ];
    for (const [, args] of hostile) {
      let thrown: unknown;
      try {
        d.enqueue('x.y', args as JobArgs);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ code: 'JR_ERR_INVALID_ARGUMENT' });
      expect((thrown as Error).message).toMatch(/cannot enqueue job 'x\.y': .*threw: boom/);
      expect((thrown as Error).cause).toBe(boom);
    }
    const options = new Proxy(
      {},
      {
        ownKeys: () => {
          throw boom;
        },
      },
    );
    expect(() => d.enqueue('x.y', {}, options)).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT', cause: boom }),
    );
    const item = {
      job: 'x.y',
      get args(): JobArgs {
        throw boom;
      },
    };
    expect(() => d.enqueueMany([{ job: 'x.y', args: {} }, item])).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT', cause: boom }),
    );
    expect(d.stats().tracked).toBe(0);
  });

  it('enqueueMany: all or nothing, every result comes back', async () => {
    const reg = new JobRegistry();
    reg.define('double', (args: { v: number }) => ({ v: args.v * 2 }));
    const { d } = await setup(reg);
    const handles = d.enqueueMany(
      Array.from({ length: 500 }, (_, v) => ({ job: 'double', args: { v } })),
    );
    const results = await Promise.all(handles.map((h) => h.result));
    expect(results.map((r) => r.v)).toEqual(Array.from({ length: 500 }, (_, v) => v * 2));
    const before = d.stats().tracked;
    expect(() =>
      d.enqueueMany([
        { job: 'double', args: { v: 1 } },
        { job: 'double', args: { v: 2 }, options: { after: -1 } },
      ]),
    ).toThrow(expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }));
    expect(d.stats().tracked).toBe(before);
  });

  it('respects concurrency: a node never runs more than its slots', async () => {
    const reg = new JobRegistry();
    let running = 0;
    let peak = 0;
    reg.define('busy', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    });
    const { d } = await setup(reg, ['n1']);
    await Promise.all(Array.from({ length: 60 }, () => d.enqueue('busy', {}).result));
    expect(peak).toBe(4);
  });

  it('cancel of an instant job waiting for a slot on a memory node: never runs, result rejects', async () => {
    const reg = new JobRegistry();
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    reg.define('hold', async (args: { tag: string }) => {
      ran.push(args.tag);
      await gate;
    });
    // Two distributors, each with the node's one credit: the second job waits in the
    // node's ready queue (never stored: memory nodes store only jobs that wait on timers).
    const d1 = await startDistributor({ port: 0 });
    const d2 = await startDistributor({ port: 0 });
    open.push(d1, d2);
    const node = await startNode({
      name: 'one-slot',
      distributors: [`127.0.0.1:${d1.address.port}`, `127.0.0.1:${d2.address.port}`],
      registry: reg,
      concurrency: 1,
    });
    open.push(node);
    await waitUntil(() => d1.nodes().length === 1 && d2.nodes().length === 1);
    const first = d1.enqueue('hold', { tag: 'first' });
    await waitUntil(() => node.running === 1);
    const second = d2.enqueue('hold', { tag: 'second' });
    await second.accepted;
    expect(await second.cancel()).toBe(true);
    await expect(second.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    release();
    await first.result;
    expect(ran).toEqual(['first']);
  });

  it('a job that leaves non-plain data in its args fails with a clear error; the node carries on', async () => {
    const reg = new JobRegistry();
    reg.define('dated', () => ({ when: new Date(0) }));
    reg.define('fine', () => ({ ok: true }));
    const { d } = await setup(reg);
    const errors: string[] = [];
    const h = d.enqueue('dated', { n: 1 }, {}, undefined, (_a, error) => errors.push(error.code));
    const failure = await h.result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(JobFailedError);
    const info = (failure as JobFailedError).error;
    expect(info.code).toBe('JR_ERR_INVALID_ARGUMENT');
    expect(info.message).toContain('args.when');
    // Final at once (retrying would leave the same args), with the args the attempt began with.
    expect((failure as JobFailedError).args).toMatchObject({ n: 1 });
    expect(errors).toEqual(['JR_ERR_INVALID_ARGUMENT']);
    await expect(d.enqueue('fine', {}).result).resolves.toEqual({ ok: true });
  });

  it('a job that leaves 100,000-level args or a graph of shared objects fails cleanly; the node carries on', async () => {
    const reg = new JobRegistry();
    reg.define('deep', () => {
      let o: Record<string, unknown> = {};
      const root = o;
      for (let i = 0; i < 100_000; i++) o = o.n = {};
      return root; // once overflowed the stack while its error was described
    });
    reg.define('graph', () => {
      let o: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 40; i++) o = { a: o, b: o }; // 2^40 paths
      return o;
    });
    reg.define('fine', () => ({ ok: true }));
    const { d } = await setup(reg);
    for (const [name, why] of [
      ['deep', /nested deeper than 64 levels/],
      ['graph', /is an object met before/],
    ] as const) {
      const failure = await d.enqueue(name, {}).result.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(JobFailedError);
      expect((failure as JobFailedError).error.code).toBe('JR_ERR_INVALID_ARGUMENT');
      expect((failure as JobFailedError).error.message).toMatch(why);
    }
    await expect(d.enqueue('fine', {}).result).resolves.toEqual({ ok: true });
  });

  it('a result too large for a frame comes back as a PAYLOAD_TOO_LARGE error; the node carries on', async () => {
    const reg = new JobRegistry();
    reg.define('bulky', () => ({ blob: 'x'.repeat(100_000) }));
    reg.define('fine', () => ({ ok: true }));
    const { d } = await setup(reg, ['n1'], { maxFrameSize: 64 * 1024 });
    const failure = await d.enqueue('bulky', {}).result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(JobFailedError);
    expect((failure as JobFailedError).error.code).toBe('JR_ERR_PAYLOAD_TOO_LARGE');
    await expect(d.enqueue('fine', {}).result).resolves.toEqual({ ok: true });
  });

  it("a backoff function that gives no usable delay fails the job with the job's own error (the backoff problem its cause), not the node", async () => {
    const reg = new JobRegistry();
    let attempts = 0;
    reg.define(
      'flaky',
      () => {
        attempts++;
        throw new Error('boom');
      },
      { maxAttempt: 3, backoff: () => -1 },
    );
    reg.define('fine', () => ({ ok: true }));
    const { d } = await setup(reg);
    const failure = await d.enqueue('flaky', {}).result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(JobFailedError);
    const error = (failure as JobFailedError).error;
    expect(error).toMatchObject({ name: 'Error', message: 'boom' });
    expect(error.details?.backoffError).toMatchObject({ code: 'JR_ERR_INVALID_ARGUMENT' });
    expect((error.details?.backoffError as { message: string }).message).toContain(
      'backoff function',
    );
    expect(attempts).toBe(1);
    await expect(d.enqueue('fine', {}).result).resolves.toEqual({ ok: true });
  });

  it('a job may enqueue another job through a distributor in the same process', async () => {
    const reg = new JobRegistry();
    const ref: { d?: Distributor } = {};
    reg.define('parent', async () => ({
      child: (await ref.d!.enqueue('child', { v: 2 }).result).v,
    }));
    reg.define('child', (args: { v: number }) => ({ v: args.v * 10 }));
    ref.d = (await setup(reg)).d;
    const d = ref.d;
    await expect(d.enqueue('parent', {}).result).resolves.toEqual({ child: 20 });
  });
});
