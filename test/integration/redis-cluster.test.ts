import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  JobFailedError,
  JobReactorError,
  JobRegistry,
  RedisMonitor,
  RedisStorage,
  startDistributor,
  startNode,
  type Distributor,
  type JobHandle,
  type WorkerNode,
} from '../../src/index.ts';
import { describeJobStorageConformance } from '../conformance/job-storage.conformance.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import {
  clusterUnsupported,
  startRedisCluster,
  type RedisCluster,
} from '../helpers/redis-cluster.ts';
import { randomPrefix } from '../helpers/redis-server.ts';
import { waitUntil } from '../helpers/wait.ts';

// RedisStorage on a real Redis Cluster (3 masters, 1 replica each, started here): the
// storage conformance suite, nodes whose keys live on different masters, a takeover from
// one master's slot to another's, and a master SIGKILLed and failed over while nodes run.

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
const unsupported = clusterUnsupported();
if (unsupported !== undefined) {
  console.warn(`\n!! Redis Cluster tests SKIPPED: ${unsupported}\n`);
}

let cluster: RedisCluster;
let prefix = randomPrefix();
const distributors: Distributor[] = [];
const nodes: WorkerNode[] = [];
const processes: NodeProcess[] = [];

/** Node names whose keys (`{node:N}`) are served by each master: one name per master. */
async function namesOnEachMaster(stem: string): Promise<string[]> {
  const byMaster = new Map<number, string>();
  const masters = await cluster.masters();
  for (let i = 0; byMaster.size < masters.length; i++) {
    const name = `${stem}${i}`;
    const port = await cluster.masterFor(`${prefix}:{node:${name}}:jobs`);
    if (!byMaster.has(port)) byMaster.set(port, name);
  }
  return [...byMaster.values()];
}

/**
 * How a job ended: 'complete', the code of the error it was reported with (a failed job's
 * own error code), 'untyped', or 'hung' when nothing came within 60 s.
 */
function outcome(h: JobHandle): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    h.result.then(
      () => 'complete',
      (err: unknown) =>
        err instanceof JobFailedError
          ? err.error.code
          : err instanceof JobReactorError
            ? err.code
            : 'untyped',
    ),
    new Promise<string>((r) => (timer = setTimeout(() => r('hung'), 60_000))),
  ]).finally(() => clearTimeout(timer));
}

async function distributor(): Promise<Distributor> {
  const d = await startDistributor({ port: 0 });
  distributors.push(d);
  return d;
}

describe.skipIf(unsupported !== undefined)('redis cluster - RedisStorage on 3 masters', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach(() => {
    prefix = randomPrefix();
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    for (const n of nodes.splice(0)) await n.stop({ timeout: 500 });
    for (const d of distributors.splice(0)) await d.close({ timeout: 500 });
  });

  describeJobStorageConformance('redis cluster', async () => {
    const storage = new RedisStorage({ url: cluster.url, prefix });
    return { storage, cleanup: async () => {} };
  });

  it('a storage takes a Cluster client of the caller too, and the monitor sees every node', async () => {
    const [a, b, c] = await namesOnEachMaster('own');
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
    try {
      const reg = new JobRegistry();
      reg.define('cl.echo', (_args, ctx) => ({ node: ctx.node }));
      const d = await distributor();
      for (const name of [a!, b!, c!]) {
        nodes.push(
          await startNode({
            name,
            distributors: [`127.0.0.1:${d.address.port}`],
            storage: new RedisStorage({ client, prefix }),
            registry: reg,
          }),
        );
      }
      await waitUntil(() => d.nodes().length === 3, 10_000, 'three nodes');
      // Delayed jobs stay stored until they run: the monitor finds them on three masters.
      const later = Date.now() + 60_000;
      for (const name of [a!, b!, c!]) {
        await d.enqueue('cl.echo', {}, { node: name, strictNode: true, runAt: later }).accepted;
      }
      const monitor = new RedisMonitor({ url: cluster.url, prefix });
      try {
        const listed = await monitor.nodes();
        expect(listed.map((n) => [n.name, n.jobs]).sort()).toEqual(
          [a!, b!, c!].map((n) => [n, 1]).sort(),
        );
        expect(await monitor.jobs(b!)).toHaveLength(1);
      } finally {
        await monitor.close();
      }
    } finally {
      for (const n of nodes.splice(0)) await n.stop({ timeout: 500 });
      client.disconnect();
    }
  });

  it('nodes whose keys live on different masters run instant and delayed jobs (redis+cluster:// URL)', async () => {
    const names = await namesOnEachMaster('shard');
    expect(
      new Set(await Promise.all(names.map((n) => cluster.masterFor(`${prefix}:{node:${n}}:jobs`))))
        .size,
    ).toBe(3);
    const reg = new JobRegistry();
    reg.define('cl.echo', (args: { i: number }, ctx) => ({ node: ctx.node, i: args.i }));
    const d = await distributor();
    for (const name of names) {
      nodes.push(
        await startNode({
          name,
          distributors: [`127.0.0.1:${d.address.port}`],
          storage: cluster.url,
          redisPrefix: prefix,
          registry: reg,
        }),
      );
    }
    await waitUntil(() => d.nodes().length === 3, 10_000, 'three nodes');
    const handles = names.flatMap((name) =>
      Array.from({ length: 20 }, (_, i) =>
        d.enqueue(
          'cl.echo',
          { i },
          { node: name, strictNode: true, ...(i % 2 === 0 ? { after: 0.2 } : {}) },
        ),
      ),
    );
    const results = await Promise.all(handles.map((h) => h.result));
    for (const name of names) {
      expect(results.filter((r) => r.node === name)).toHaveLength(20);
    }
  });

  it('takeover across shards: a SIGKILLed node’s jobs are adopted by a peer whose keys are on another master', async () => {
    const [victim, heir] = await namesOnEachMaster('tk');
    const d = await distributor();
    const lease = ['--lease-ttl', '2000', '--redis-prefix', prefix, '--storage', cluster.url];
    const spawn = (name: string) => {
      const p = spawnNode({
        name,
        distributors: [`127.0.0.1:${d.address.port}`],
        jobs: JOBS,
        extra: lease,
      });
      processes.push(p);
      return p;
    };
    const v = spawn(victim!);
    spawn(heir!);
    await waitUntil(() => d.nodes().length === 2, 20_000, 'both nodes');
    const due = Date.now() + 4000;
    const delayed = Array.from({ length: 20 }, () =>
      d.enqueue('it.echo', {}, { node: victim!, runAt: due }),
    );
    await Promise.all(delayed.map((h) => h.accepted));
    v.kill('SIGKILL');
    await v.exited;
    const results = await Promise.all(delayed.map((h) => h.result));
    expect(results.map((r) => r.node)).toEqual(delayed.map(() => heir));
  }, 60_000);

  it('a master SIGKILLed mid-run fails over to its replica: every job completes or is reported, none hangs', async () => {
    const names = await namesOnEachMaster('fo');
    const reg = new JobRegistry();
    reg.define('cl.work', async (_args, ctx) => {
      await new Promise((r) => setTimeout(r, 20));
      return { node: ctx.node };
    });
    const d = await distributor();
    const events: string[] = [];
    for (const name of names) {
      const n = await startNode({
        name,
        distributors: [`127.0.0.1:${d.address.port}`],
        storage: cluster.url,
        redisPrefix: prefix,
        registry: reg,
        leaseTtlMs: 2000,
        concurrency: 8,
      });
      n.on('storage:lost', (err, jobs) => events.push(`${name} storage:lost ${jobs} ${err.code}`));
      n.on('jobs:adopted', (from, jobs) => events.push(`${name} adopted ${jobs} from ${from}`));
      nodes.push(n);
    }
    await waitUntil(() => d.nodes().length === 3, 10_000, 'three nodes');
    const victimMaster = await cluster.masterFor(`${prefix}:{node:${names[0]}}:jobs`);
    // Jobs due before, around and after the kill, on every node: stored, then run.
    const t0 = Date.now();
    const handles: JobHandle[] = [];
    for (let k = 0; k < 150; k++) {
      handles.push(d.enqueue('cl.work', { k }, { node: names[k % 3]!, runAt: t0 + 200 + k * 40 }));
    }
    await waitUntil(() => Date.now() - t0 > 2000, 5000, 'the run to be under way');
    cluster.kill(victimMaster);
    // More jobs while the cluster fails over.
    for (let k = 150; k < 200; k++) {
      handles.push(d.enqueue('cl.work', { k }, { node: names[k % 3]! }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await cluster.waitHealthy(30_000);
    expect(await cluster.masterFor(`${prefix}:{node:${names[0]}}:jobs`)).not.toBe(victimMaster);
    const outcomes = await Promise.all(handles.map(outcome));
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    console.log(
      `failover: ${JSON.stringify(Object.fromEntries(counts))}; ${events.join('; ') || 'no event'}`,
    );
    expect(counts.get('hung') ?? 0).toBe(0);
    expect(counts.get('untyped') ?? 0).toBe(0);
    expect(counts.get('complete') ?? 0).toBeGreaterThan(0);
    // The node whose master went away noticed: the new server under its slot (a loss
    // reconciled), or, when the failover outlasted its lease, peers adopted its jobs.
    expect(
      events.some(
        (e) => e.startsWith(`${names[0]} storage:lost`) || e.endsWith(`from ${names[0]}`),
      ),
    ).toBe(true);
  }, 120_000);

  it('writes acknowledged by a master but not yet on its replica: lost in the failover, and reported', async () => {
    const [name] = await namesOnEachMaster('lag');
    const reg = new JobRegistry();
    reg.define('cl.later', (_args, ctx) => ({ node: ctx.node }));
    const d = await distributor();
    const lost: number[] = [];
    const n = await startNode({
      name: name!,
      distributors: [`127.0.0.1:${d.address.port}`],
      storage: cluster.url,
      redisPrefix: prefix,
      registry: reg,
      leaseTtlMs: 2000,
    });
    n.on('storage:lost', (_err, jobs) => lost.push(jobs));
    nodes.push(n);
    await waitUntil(() => d.nodes().length === 1, 10_000, 'the node');
    const master = await cluster.masterFor(`${prefix}:{node:${name}}:jobs`);
    const due = Date.now() + 8000;
    const before = Array.from({ length: 10 }, () => d.enqueue('cl.later', {}, { runAt: due }));
    await Promise.all(before.map((h) => h.accepted));
    // Held back, the replica misses what the master acknowledges now; then the master dies.
    const resume = await cluster.holdBackReplica(master);
    const during = Array.from({ length: 10 }, () => d.enqueue('cl.later', {}, { runAt: due }));
    await Promise.all(during.map((h) => h.accepted));
    cluster.kill(master);
    resume();
    await cluster.waitHealthy(30_000);
    const outcomes = await Promise.all([...before, ...during].map(outcome));
    // Replicated before the freeze: they survive. Acknowledged during it: gone from Redis,
    // and the node says so for each (never a silent drop).
    expect(outcomes.slice(0, 10)).toEqual(before.map(() => 'complete'));
    expect(outcomes.slice(10)).toEqual(during.map(() => 'JR_ERR_STORAGE_LOST'));
    expect(lost).toEqual([10]);
  }, 120_000);
});
