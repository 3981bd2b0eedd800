import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  JobRegistry,
  RedisMonitor,
  startDistributor,
  startNode,
  type Distributor,
  type JobArgs,
  type WorkerNode,
} from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import {
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../helpers/redis-server.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

/**
 * Fields HSET writes under `prefix`, seen with MONITOR (a variadic HSET, as the storage's
 * batch script sends, counts each of its fields).
 */
async function watchHsetFields(url: string, prefix: string) {
  const monitor = await new Redis(url).monitor();
  let fields = 0;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'hset' && args[1]?.startsWith(prefix)) {
      fields += (args.length - 2) / 2;
    }
  });
  return {
    /** The count once MONITOR has shown at least `atLeast`, and a little more time. */
    async fields(atLeast: number): Promise<number> {
      await waitUntil(() => fields >= atLeast);
      await sleep(50);
      return fields;
    },
    stop: () => monitor.disconnect(),
  };
}

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));
const run = promisify(execFile);

let redis: RedisServer;
const distributors: Distributor[] = [];
const processes: NodeProcess[] = [];
const nodes: WorkerNode[] = [];

describe.skipIf(!redisAvailable())('redis node - durable jobs over a real redis-server', () => {
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    for (const n of nodes.splice(0)) await n.stop({ timeout: 500 });
    for (const d of distributors.splice(0)) await d.close({ timeout: 100 });
  });

  async function distributor(): Promise<Distributor> {
    const d = await startDistributor({ port: 0 });
    distributors.push(d);
    return d;
  }

  function redisNode(
    d: Distributor,
    name: string,
    prefix: string,
    runLog: string,
    concurrency = 10,
  ): NodeProcess {
    const p = spawnNode({
      name,
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      concurrency,
      extra: ['--storage', redis.url, '--redis-prefix', prefix],
      env: { JR_RUN_LOG: runLog },
    });
    processes.push(p);
    return p;
  }

  const runsIn = (file: string): { id: string; runAt: number; startedAt: number }[] =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; runAt: number; startedAt: number })
      : [];

  it('SIGKILL and restart: instant, deferred and periodic jobs all complete, on schedule, 0 lost', async () => {
    const d = await distributor();
    const prefix = randomPrefix();
    const log = join(mkdtempSync(join(tmpdir(), 'jr-runs-')), 'runs.jsonl');
    let node = redisNode(d, 'durable', prefix, log);
    await waitUntil(() => d.nodes().length === 1, 20_000, 'node to connect');
    expect(d.nodes()[0]!.durable).toBe(true);

    const t0 = Date.now();
    const instant = Array.from({ length: 30 }, () => d.enqueue('it.logged', { ms: 400 }));
    const deferred = Array.from({ length: 10 }, (_, i) =>
      d.enqueue('it.logged', {}, { runAt: t0 + 3000 + i * 100 }),
    );
    const periodicRuns: number[] = [];
    const periodic = d.enqueue('it.logged', {}, { period: 1 }, (a, info) => {
      if (!info.final) periodicRuns.push(Date.now());
      void a;
    });
    await Promise.all(deferred.map((h) => h.accepted));
    await periodic.accepted;
    // Let some instant jobs finish and others be mid-run, then kill the node.
    await waitUntil(() => runsIn(log).length >= 15, 10_000, 'jobs to run');
    const before = runsIn(log);
    node.kill('SIGKILL');
    await node.exited;
    await sleep(300);
    node = redisNode(d, 'durable', prefix, log);

    const settled = new Set<string>();
    const all = [...instant, ...deferred];
    for (const h of all)
      void h.result.then(
        () => settled.add(h.id),
        () => settled.add(h.id),
      );
    try {
      await waitUntil(() => settled.size === all.length, 30_000, 'every job to finish');
    } catch (err) {
      const missing = all.filter((h) => !settled.has(h.id)).map((h) => h.id);
      console.error(JSON.stringify({ missing, nodes: d.nodes(), stderr: node.stderr() }, null, 1));
      throw err;
    }
    const results = await Promise.allSettled(all.map((h) => h.result));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(0);
    await waitUntil(() => periodicRuns.length >= 5, 10_000, 'periodic runs after restart');
    expect(await periodic.cancel()).toBe(true);

    const runs = runsIn(log);
    const count = new Map<string, number>();
    for (const r of runs) count.set(r.id, (count.get(r.id) ?? 0) + 1);
    // Deferred jobs: exactly once each, never early, close to their original due time.
    for (const h of deferred) {
      expect(count.get(h.id)).toBe(1);
      const r = runs.find((x) => x.id === h.id)!;
      expect(r.startedAt).toBeGreaterThanOrEqual(r.runAt);
      expect(r.startedAt - r.runAt).toBeLessThan(1000);
    }
    // Instant jobs: at least once; duplicates only for those running at the kill (≤ concurrency).
    const duplicated = instant.filter((h) => (count.get(h.id) ?? 0) > 1);
    expect(instant.every((h) => (count.get(h.id) ?? 0) >= 1)).toBe(true);
    expect(duplicated.length).toBeLessThanOrEqual(10);
    // Jobs that had finished before the kill (their run started ≥ 400 ms before it) never re-ran.
    const killedAt = Math.max(...before.map((r) => r.startedAt));
    const finishedBefore = before.filter((r) => r.startedAt + 450 < killedAt).map((r) => r.id);
    for (const id of finishedBefore) expect(count.get(id)).toBe(1);
    // The periodic job kept its grid across the restart.
    const pruns = runs.filter((r) => r.id === periodic.id);
    for (const r of pruns) expect((r.runAt - pruns[0]!.runAt) % 1000).toBe(0);
    console.log(
      `redis restart: ${instant.length + deferred.length} jobs, 0 lost, ${duplicated.length} duplicated (running at the kill)`,
    );
  }, 120_000);

  it('nodes a and ba on one Redis never touch each other’s jobs', async () => {
    const d = await distributor();
    const prefix = randomPrefix();
    const log = join(mkdtempSync(join(tmpdir(), 'jr-runs-')), 'runs.jsonl');
    redisNode(d, 'a', prefix, log, 4);
    redisNode(d, 'ba', prefix, log, 4);
    await waitUntil(() => d.nodes().length === 2, 20_000);
    const forA = Array.from({ length: 10 }, () =>
      d.enqueue('it.echo', {}, { node: 'a', strictNode: true, after: 60 }),
    );
    const forBa = Array.from({ length: 10 }, () =>
      d.enqueue('it.echo', {}, { node: 'ba', strictNode: true, after: 60 }),
    );
    await Promise.all([...forA, ...forBa].map((h) => h.accepted));
    const monitor = new RedisMonitor({ url: redis.url, prefix });
    try {
      const a = await monitor.jobs('a');
      const ba = await monitor.jobs('ba');
      expect(new Set(a.map((j) => j.id))).toEqual(new Set(forA.map((h) => h.id)));
      expect(new Set(ba.map((j) => j.id))).toEqual(new Set(forBa.map((h) => h.id)));
      await monitor.removeAll('a');
      expect(await monitor.jobs('a')).toHaveLength(0);
      expect(await monitor.jobs('ba')).toHaveLength(10);
    } finally {
      await monitor.close();
    }
  });

  it('the monitor CLI lists, retries and removes jobs of a running system', async () => {
    const d = await distributor();
    const prefix = randomPrefix();
    const log = join(mkdtempSync(join(tmpdir(), 'jr-runs-')), 'runs.jsonl');
    redisNode(d, 'watched', prefix, log, 4);
    await waitUntil(() => d.nodes().length === 1, 20_000);
    const failed = d.enqueue('it.fail', {}, { maxAttempt: 1 });
    await failed.result.catch(() => {});
    const waiting = d.enqueue('it.echo', {}, { after: 600 });
    await waiting.accepted;
    const cli = async (...args: string[]) =>
      (
        await run(
          process.execPath,
          [BIN, 'jobs', ...args, '--redis', redis.url, '--prefix', prefix],
          {
            env: { ...process.env, JR_FROM_SOURCE: '1' },
          },
        )
      ).stdout;
    const list = JSON.parse(await cli('list', '--node', 'watched', '--json')) as {
      id: string;
      status: string;
    }[];
    expect(list.find((j) => j.id === failed.id)?.status).toBe('failed');
    expect(list.find((j) => j.id === waiting.id)?.status).toBe('new');
    expect(await cli('list', '--node', 'watched')).toContain(waiting.id);
    await cli('retry', 'watched', failed.id);
    const shown = JSON.parse(await cli('show', 'watched', failed.id, '--json')) as {
      status: string;
    };
    expect(shown.status).toBe('error');
    await cli('remove', 'watched', waiting.id);
    const after = JSON.parse(await cli('list', '--node', 'watched', '--json')) as { id: string }[];
    expect(after.map((j) => j.id)).not.toContain(waiting.id);
  }, 120_000);

  it('an instant job with a free slot is written once, already "in progress", and once more when it ends', async () => {
    const d = await distributor();
    const reg = new JobRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    reg.define('hold', async () => {
      await gate;
    });
    const prefix = randomPrefix();
    const node = await startNode({
      name: 'slots',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      storage: redis.url,
      redisPrefix: prefix,
      concurrency: 2,
    });
    nodes.push(node);
    await waitUntil(() => d.nodes().length === 1);
    const writes = await watchHsetFields(redis.url, prefix);
    const monitor = new RedisMonitor({ url: redis.url, prefix });
    try {
      const held = [d.enqueue('hold', {}), d.enqueue('hold', {})];
      await Promise.all(held.map((h) => h.accepted));
      await waitUntil(() => node.running === 2);
      const stored = await monitor.jobs('slots');
      expect(stored.map((j) => [j.status, j.attempt]).sort()).toEqual([
        ['in progress', 1],
        ['in progress', 1],
      ]);
      // One write per job so far: stored already marked, not stored then marked.
      expect(await writes.fields(2)).toBe(2);
      release();
      await Promise.all(held.map((h) => h.result));
      // Then one per job for the outcome and its feedback (written together, before the
      // feedback is sent, so both are done by the time `result` resolves).
      expect(await monitor.jobs('slots')).toHaveLength(0);
      expect(await writes.fields(4)).toBe(4);
    } finally {
      release();
      await monitor.close();
      writes.stop();
    }
  });

  it('Redis going away: the node stops taking jobs, others take them; it resumes when Redis returns', async () => {
    const d = await distributor();
    const reg = new JobRegistry();
    reg.define('where', (_a, ctx) => ({ node: ctx.node }));
    const prefix = randomPrefix();
    const durable = await startNode({
      name: 'durable',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      storage: redis.url,
      redisPrefix: prefix,
    });
    nodes.push(durable);
    const volatile = await startNode({
      name: 'volatile',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
    });
    nodes.push(volatile);
    await waitUntil(() => d.nodes().length === 2);
    const both = await Promise.all(Array.from({ length: 40 }, () => d.enqueue('where', {}).result));
    expect(new Set(both.map((r) => r.node))).toEqual(new Set(['durable', 'volatile']));

    redis.kill();
    await waitUntil(
      () => d.nodes().find((n) => n.name === 'durable')?.paused === true,
      10_000,
      'pause',
    );
    const during = await Promise.all(
      Array.from({ length: 40 }, () => d.enqueue('where', {}).result),
    );
    expect(new Set(during.map((r: JobArgs) => r.node))).toEqual(new Set(['volatile']));

    await redis.restart();
    await waitUntil(
      () => d.nodes().find((n) => n.name === 'durable')?.paused === false,
      15_000,
      'resume',
    );
    const afterwards = await Promise.all(
      Array.from({ length: 40 }, () => d.enqueue('where', {}).result),
    );
    expect(new Set(afterwards.map((r) => r.node))).toEqual(new Set(['durable', 'volatile']));
  }, 120_000);

  it('feedbacks produced while the distributor is down are kept in Redis and delivered when it returns', async () => {
    const prefix = randomPrefix();
    const log = join(mkdtempSync(join(tmpdir(), 'jr-runs-')), 'runs.jsonl');
    const first = await startDistributor({ port: 0, id: 'app-1' });
    const port = first.address.port;
    redisNode(first, 'keeper', prefix, log, 4);
    await waitUntil(() => first.nodes().length === 1, 20_000);
    const h = first.enqueue('it.logged', {}, { after: 1 });
    await h.accepted;
    h.result.catch(() => {}); // this process "restarts": the first distributor never sees the result
    await first.close({ timeout: 100 });
    await waitUntil(
      () => runsIn(log).length === 1,
      5000,
      'job to run while the distributor is down',
    );
    const monitor = new RedisMonitor({ url: redis.url, prefix });
    try {
      // The job logs when it starts; its feedback is written to Redis once it has finished.
      let kept = 0;
      for (let i = 0; i < 100 && kept === 0; i++) {
        kept = (await monitor.nodes()).find((n) => n.name === 'keeper')?.feedbacks ?? 0;
        if (kept === 0) await sleep(50);
      }
      expect(kept).toBe(1);
      const again = await startDistributor({ port, id: 'app-1' });
      distributors.push(again);
      const orphans: string[] = [];
      again.on('feedback:orphan', (fb) => orphans.push(fb.jobId));
      await waitUntil(() => orphans.length === 1, 15_000, 'the kept feedback');
      expect(orphans).toEqual([h.id]);
      let left = 1;
      for (let i = 0; i < 50 && left > 0; i++) {
        left = (await monitor.nodes()).find((n) => n.name === 'keeper')?.feedbacks ?? 0;
        await sleep(50);
      }
      expect(left).toBe(0);
    } finally {
      await monitor.close();
    }
  }, 40_000);

  it('a node process started while its Redis restarts waits for it, then serves', async () => {
    const d = await distributor();
    const log = join(mkdtempSync(join(tmpdir(), 'jr-runs-')), 'runs.jsonl');
    redis.kill(); // refused until restarted; the node's open keeps trying (connectTimeoutMs 5 s)
    const p = redisNode(d, 'late', randomPrefix(), log);
    await sleep(1500);
    await redis.restart();
    await waitUntil(() => d.nodes().length === 1, 20_000, 'node to connect');
    await expect(d.enqueue('it.logged', {}).result).resolves.toBeDefined();
    expect(p.child.exitCode).toBeNull();
    // It said what it waited for (a warning, not the fatal "within N ms" error).
    expect(p.stderr()).toMatch(/cannot reach Redis at \S+ yet \(.+\): still trying for \d+ ms/);
    expect(p.stderr()).not.toMatch(/cannot reach Redis at \S+ within/);
  }, 60_000);

  it('an unreachable Redis at start fails the node with a clear StorageError', async () => {
    const d = await distributor();
    await expect(
      startNode({
        name: 'nope',
        distributors: [`127.0.0.1:${d.address.port}`],
        storage: 'redis://127.0.0.1:1',
        redisConnectTimeoutMs: 300,
      }),
    ).rejects.toMatchObject({
      code: 'JR_ERR_STORAGE',
      message: expect.stringMatching(
        /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 within 300 ms: /,
      ),
    });
  });

  it('a CLI node given --redis-connect-timeout gives up on an absent Redis after it, exit 1', async () => {
    const d = await distributor();
    const p = spawnNode({
      name: 'gone',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      extra: ['--storage', 'redis://127.0.0.1:1', '--redis-connect-timeout', '400'],
    });
    processes.push(p);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 within 400 ms/);
  });
});
