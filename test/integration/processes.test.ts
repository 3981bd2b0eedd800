import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDistributor, type Distributor, type JobArgs } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));

const distributors: Distributor[] = [];
const processes: NodeProcess[] = [];
afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  for (const d of distributors.splice(0)) await d.close({ timeout: 100 });
});

async function distributor(): Promise<{ d: Distributor; addr: string }> {
  const d = await startDistributor({ port: 0 });
  distributors.push(d);
  return { d, addr: `127.0.0.1:${d.address.port}` };
}

function node(name: string, addrs: string[], concurrency = 8): NodeProcess {
  const p = spawnNode({ name, distributors: addrs, jobs: JOBS, concurrency });
  processes.push(p);
  return p;
}

const connected = (d: Distributor, n: number) =>
  waitUntil(() => d.nodes().length === n, 20_000, `${n} nodes`);

describe('processes - distributor here, nodes in child processes over TCP', () => {
  it('quick start: jobs spread over two nodes and every result comes back', async () => {
    const { d, addr } = await distributor();
    node('p1', [addr], 4);
    node('p2', [addr], 4);
    await connected(d, 2);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => d.enqueue('it.echo', { i }).result),
    );
    expect(results.map((r) => r.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const perNode = new Map<string, number>();
    for (const r of results)
      perNode.set(r.node as string, (perNode.get(r.node as string) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(['p1', 'p2']);
  });

  it('callbacks run in order, errbacks on failure, and args flow back in the feedbacks', async () => {
    const { d, addr } = await distributor();
    node('p1', [addr]);
    await connected(d, 1);
    const ok = await new Promise<JobArgs>((resolve) =>
      d.enqueue('it.chain', { start: true }, {}, resolve),
    );
    expect(ok).toEqual({
      start: true,
      trace: ['job', 'callback:first', 'callback:second'],
      fromJob: 1,
      fromFirst: 2,
      fromSecond: 3,
    });
    const failed = await new Promise<{ args: JobArgs; code: string }>((resolve) =>
      d.enqueue('it.fail', { x: 1 }, { maxAttempt: 1 }, undefined, (args, error) =>
        resolve({ args, code: error.code }),
      ),
    );
    expect(failed.args).toMatchObject({
      x: 1,
      trace: ['job', 'errback:first:JR_ERR_JOB_THREW'],
      handled: true,
      error: { name: 'TypeError', code: 'JR_ERR_JOB_THREW', message: 'it.fail always fails' },
    });
  });

  it('routing with three nodes: node (soft), strictNode and notNode are honoured exactly', async () => {
    const { d, addr } = await distributor();
    node('a', [addr], 2);
    node('b', [addr], 2);
    node('c', [addr], 2);
    await connected(d, 3);
    const where = async (opts: Parameters<Distributor['enqueue']>[2], n = 30) =>
      new Set(
        (
          await Promise.all(Array.from({ length: n }, () => d.enqueue('it.echo', {}, opts).result))
        ).map((r) => r.node),
      );
    expect(await where({ node: 'b', strictNode: true })).toEqual(new Set(['b']));
    expect(await where({ node: ['a', 'c'], strictNode: true })).toEqual(new Set(['a', 'c']));
    expect(await where({ notNode: 'a' })).toEqual(new Set(['b', 'c']));
    expect(await where({ notNode: ['a', 'b'] })).toEqual(new Set(['c']));
    // Soft preference: b runs what it has room for, the rest falls back to others.
    const soft = await Promise.all(
      Array.from({ length: 30 }, () => d.enqueue('it.slow', { ms: 50 }, { node: 'b' }).result),
    );
    const softNodes = soft.map((r) => r.node);
    expect(softNodes).toContain('b');
    expect(new Set(softNodes).size).toBeGreaterThan(1);
  });

  it('strict jobs wait for their node and run the moment it connects', async () => {
    const { d, addr } = await distributor();
    node('a', [addr], 2);
    await connected(d, 1);
    const handles = Array.from({ length: 10 }, () =>
      d.enqueue('it.echo', {}, { node: 'late', strictNode: true }),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(d.stats().waiting).toBe(10);
    node('late', [addr], 2);
    const results = await Promise.all(handles.map((h) => h.result));
    expect(new Set(results.map((r) => r.node))).toEqual(new Set(['late']));
  });

  it('a node killed with SIGKILL while holding memory-storage jobs: every job completes elsewhere, 0 lost', async () => {
    const { d, addr } = await distributor();
    const victim = node('victim', [addr], 10);
    node('survivor', [addr], 10);
    await connected(d, 2);
    // Deferred jobs wait on the victim's timers; slow ones are running there.
    const slow = Array.from({ length: 40 }, () =>
      d.enqueue('it.slow', { ms: 400 }, { node: 'victim' }),
    );
    const later = Array.from({ length: 20 }, () =>
      d.enqueue('it.echo', {}, { node: 'victim', after: 0.8 }),
    );
    await waitUntil(
      () => (d.nodes().find((n) => n.name === 'victim')?.held ?? 0) >= 30,
      10_000,
      'victim to hold jobs',
    );
    const held = d.nodes().find((n) => n.name === 'victim')!.held;
    victim.kill('SIGKILL');
    const results = await Promise.allSettled([...slow, ...later].map((h) => h.result));
    const lost = results.filter((r) => r.status === 'rejected').length;
    expect(lost).toBe(0);
    expect(results).toHaveLength(60);
    const onSurvivor = results.filter(
      (r) => r.status === 'fulfilled' && r.value.node === 'survivor',
    ).length;
    expect(onSurvivor).toBeGreaterThanOrEqual(held);
  });

  it('two distributors × two nodes: every feedback reaches the distributor that enqueued the job', async () => {
    const one = await distributor();
    const two = await distributor();
    node('x', [one.addr, two.addr], 4);
    node('y', [one.addr, two.addr], 4);
    await connected(one.d, 2);
    await connected(two.d, 2);
    const fb = { one: [] as number[], two: [] as number[] };
    const orphans: unknown[] = [];
    one.d.on('feedback:orphan', (f) => orphans.push(f));
    two.d.on('feedback:orphan', (f) => orphans.push(f));
    const jobs = [
      ...Array.from(
        { length: 100 },
        (_, i) =>
          one.d.enqueue('it.echo', { from: 'one', i }, {}, (args) => void fb.one.push(args.i))
            .result,
      ),
      ...Array.from(
        { length: 100 },
        (_, i) =>
          two.d.enqueue('it.echo', { from: 'two', i }, {}, (args) => void fb.two.push(args.i))
            .result,
      ),
    ];
    const results = await Promise.all(jobs);
    expect(results.filter((r) => r.from === 'one')).toHaveLength(100);
    expect(fb.one.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(fb.two.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(new Set(results.map((r) => r.node))).toEqual(new Set(['x', 'y']));
    expect(orphans).toHaveLength(0);
  });

  it('a node started before its distributor connects when the distributor comes up', async () => {
    const probe = await startDistributor({ port: 0 });
    const port = probe.address.port;
    await probe.close();
    node('early', [`127.0.0.1:${port}`]);
    await new Promise((r) => setTimeout(r, 500));
    const d = await startDistributor({ port });
    distributors.push(d);
    await connected(d, 1);
    await expect(d.enqueue('it.echo', {}).result).resolves.toMatchObject({ node: 'early' });
  });

  it('a frozen node (SIGSTOP: half-open, no FIN) is detected by heartbeats and its jobs move', async () => {
    const { d, addr } = await distributor();
    const frozen = node('frozen', [addr], 4);
    node('alive', [addr], 4);
    await connected(d, 2);
    const lost: number[] = [];
    d.on('node:disconnected', (info) => info.name === 'frozen' && lost.push(Date.now()));
    const handles = Array.from({ length: 8 }, () =>
      d.enqueue('it.slow', { ms: 30_000 }, { node: 'frozen', strictNode: false }),
    );
    await waitUntil(() => (d.nodes().find((n) => n.name === 'frozen')?.held ?? 0) >= 4, 10_000);
    const stoppedAt = Date.now();
    frozen.kill('SIGSTOP');
    await waitUntil(() => lost.length === 1, 10_000, 'heartbeat to notice the frozen node');
    // Default heartbeat 1 s, peer timeout 3 s: noticed in seconds, not at TCP timeout.
    expect(lost[0]! - stoppedAt).toBeLessThan(6000);
    expect(d.nodes().map((n) => n.name)).toEqual(['alive']);
    for (const h of handles) void h.cancel();
    frozen.kill('SIGKILL');
  }, 30_000);

  it('graceful stop (SIGTERM): running jobs finish, the rest move to the other node', async () => {
    const { d, addr } = await distributor();
    const leaving = node('leaving', [addr], 4);
    node('staying', [addr], 4);
    await connected(d, 2);
    const handles = Array.from({ length: 12 }, () =>
      d.enqueue('it.slow', { ms: 300 }, { node: 'leaving' }),
    );
    await waitUntil(() => (d.nodes().find((n) => n.name === 'leaving')?.held ?? 0) >= 4, 10_000);
    leaving.kill('SIGTERM');
    const results = await Promise.allSettled(handles.map((h) => h.result));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(0);
    expect(await leaving.exited).toBe(0);
  });
});
