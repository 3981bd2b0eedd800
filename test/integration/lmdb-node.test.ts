import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LmdbMonitor, startDistributor, type Distributor } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));
const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'jr-lmdb-node-'));
let n = 0;

const distributors: Distributor[] = [];
const processes: NodeProcess[] = [];

afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  for (const d of distributors.splice(0)) await d.close({ timeout: 100 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function distributor(port = 0, id?: string): Promise<Distributor> {
  const d = await startDistributor({ port, ...(id !== undefined ? { id } : {}) });
  distributors.push(d);
  return d;
}

function lmdbNode(
  port: number,
  name: string,
  store: string,
  runLog: string,
  extra: string[] = [],
): NodeProcess {
  const p = spawnNode({
    name,
    distributors: [`127.0.0.1:${port}`],
    jobs: JOBS,
    concurrency: 10,
    extra: ['--storage', `lmdb:${store}`, ...extra],
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

function fresh() {
  const dir = join(root, `t${n++}`);
  return { store: join(dir, 'store'), log: join(dir, 'runs.jsonl') };
}

describe('lmdb node - durable jobs in a local directory, real processes', () => {
  it('SIGKILL and restart: instant and delayed jobs all complete, delayed ones at their original due times, 0 lost', async () => {
    const d = await distributor();
    const { store, log } = fresh();
    let node = lmdbNode(d.address.port, 'durable', store, log);
    await waitUntil(() => d.nodes().length === 1, 20_000, 'node to connect');
    expect(d.nodes()[0]!.durable).toBe(true);
    const t0 = Date.now();
    const instant = Array.from({ length: 30 }, () => d.enqueue('it.logged', { ms: 300 }));
    const delayed = Array.from({ length: 10 }, (_, i) =>
      d.enqueue('it.logged', {}, { runAt: t0 + 3000 + i * 100 }),
    );
    await Promise.all([...instant, ...delayed].map((h) => h.accepted));
    await waitUntil(() => runsIn(log).length >= 12, 10_000, 'jobs to run');
    node.kill('SIGKILL');
    await node.exited;
    node = lmdbNode(d.address.port, 'durable', store, log); // no wait: the store is ours again
    const all = [...instant, ...delayed];
    const results = await Promise.allSettled(all.map((h) => h.result));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(0);
    const runs = runsIn(log);
    const count = new Map<string, number>();
    for (const r of runs) count.set(r.id, (count.get(r.id) ?? 0) + 1);
    for (const h of delayed) {
      expect(count.get(h.id)).toBe(1);
      const r = runs.find((x) => x.id === h.id)!;
      expect(r.runAt).toBe(t0 + 3000 + delayed.indexOf(h) * 100);
      expect(r.startedAt).toBeGreaterThanOrEqual(r.runAt);
    }
    expect(instant.every((h) => (count.get(h.id) ?? 0) >= 1)).toBe(true);
    // Only jobs running at the kill run twice, or whose outcome was still being written (a
    // slot takes its next job while the last one's outcome commits): at most twice the
    // concurrency here.
    expect(instant.filter((h) => (count.get(h.id) ?? 0) > 1).length).toBeLessThanOrEqual(20);
  }, 60_000);

  it('a second live node of the same name on the same directory fails with DuplicateNodeError; another name runs beside it', async () => {
    const d = await distributor();
    const { store, log } = fresh();
    lmdbNode(d.address.port, 'one', store, log);
    await waitUntil(() => d.nodes().length === 1, 20_000, 'node to connect');
    const twin = lmdbNode(d.address.port, 'one', store, log);
    expect(await twin.exited).toBe(1);
    expect(twin.stderr()).toContain('JR_ERR_DUPLICATE_NODE');
    expect(twin.stderr()).toContain('held by a live process');
    lmdbNode(d.address.port, 'two', store, log);
    await waitUntil(() => d.nodes().length === 2, 20_000, 'second name to connect');
  }, 40_000);

  it('feedbacks kept while the distributor is down survive a SIGKILL of the node and reach the restarted distributor', async () => {
    const { store, log } = fresh();
    const first = await startDistributor({ port: 0, id: 'app-1' });
    const port = first.address.port;
    let node = lmdbNode(port, 'keeper', store, log);
    await waitUntil(() => first.nodes().length === 1, 20_000);
    const h = first.enqueue('it.logged', {}, { after: 0.5 });
    await h.accepted;
    h.result.catch(() => {}); // this distributor "restarts": it never sees the result
    await first.close({ timeout: 100 });
    const monitor = new LmdbMonitor({ path: store });
    try {
      let kept = 0;
      for (let i = 0; i < 200 && kept === 0; i++) {
        kept = (await monitor.nodes()).find((x) => x.name === 'keeper')?.feedbacks ?? 0;
        if (kept === 0) await sleep(50);
      }
      expect(kept).toBe(1);
      node.kill('SIGKILL');
      await node.exited;
      const again = await distributor(port, 'app-1');
      const orphans: string[] = [];
      again.on('feedback:orphan', (fb) => orphans.push(fb.jobId));
      node = lmdbNode(port, 'keeper', store, log);
      await waitUntil(() => orphans.length === 1, 15_000, 'the kept feedback');
      expect(orphans).toEqual([h.id]);
      let left = 1;
      for (let i = 0; i < 100 && left > 0; i++) {
        left = (await monitor.nodes()).find((x) => x.name === 'keeper')?.feedbacks ?? 0;
        await sleep(50);
      }
      expect(left).toBe(0);
      expect(runsIn(log)).toHaveLength(1);
    } finally {
      await monitor.close();
    }
  }, 40_000);

  it('feedbacks of a distributor that never comes back are dropped after --feedback-max-age, restart included', async () => {
    const { store, log } = fresh();
    const app = await startDistributor({ port: 0 }); // a random id: a restart never reclaims it
    const port = app.address.port;
    const age = ['--feedback-max-age', '2s'];
    let node = lmdbNode(port, 'forgetful', store, log, age);
    await waitUntil(() => app.nodes().length === 1, 20_000);
    const h = app.enqueue('it.logged', {}, { after: 0.5 });
    await h.accepted;
    h.result.catch(() => {});
    await app.close({ timeout: 100 });
    const monitor = new LmdbMonitor({ path: store });
    const kept = async () =>
      (await monitor.nodes()).find((x) => x.name === 'forgetful')?.feedbacks ?? 0;
    try {
      await waitUntil(async () => (await kept()) === 1, 10_000, 'the kept feedback');
      // Restored after a crash, it is still owed, and still goes once the age has passed.
      node.kill('SIGKILL');
      await node.exited;
      const other = await distributor(port); // another application's distributor is up
      node = lmdbNode(port, 'forgetful', store, log, age);
      await waitUntil(() => other.nodes().length === 1, 20_000);
      expect(await kept()).toBe(1);
      await waitUntil(async () => (await kept()) === 0, 10_000, 'the feedback dropped');
      expect(node.stderr()).toContain('dropped the feedbacks of a distributor that stayed away');
      expect(node.stderr()).toContain('feedbacks=1');
      expect(runsIn(log)).toHaveLength(1);
    } finally {
      await monitor.close();
    }
  }, 40_000);

  it('the jobs CLI lists and shows the jobs of a running node with --storage lmdb:<dir>', async () => {
    const d = await distributor();
    const { store, log } = fresh();
    lmdbNode(d.address.port, 'listed', store, log);
    await waitUntil(() => d.nodes().length === 1, 20_000);
    const hs = Array.from({ length: 3 }, () => d.enqueue('it.logged', {}, { after: 60 }));
    await Promise.all(hs.map((h) => h.accepted));
    const env = { ...process.env, JR_FROM_SOURCE: '1' };
    const nodes = await run(
      process.execPath,
      [BIN, 'jobs', 'nodes', '--storage', `lmdb:${store}`, '--json'],
      { env },
    );
    expect(JSON.parse(nodes.stdout)).toEqual([{ name: 'listed', jobs: 3, feedbacks: 0 }]);
    const list = await run(
      process.execPath,
      [BIN, 'jobs', 'list', '--storage', `lmdb:${store}`, '--status', 'new', '--json'],
      { env },
    );
    const ids = (JSON.parse(list.stdout) as { id: string }[]).map((j) => j.id);
    expect(ids).toEqual(hs.map((h) => h.id).sort());
    const show = await run(
      process.execPath,
      [BIN, 'jobs', 'show', 'listed', hs[0]!.id, '--storage', `lmdb:${store}`],
      { env },
    );
    expect(show.stdout).toContain('it.logged');
    const refused = await run(
      process.execPath,
      [BIN, 'jobs', 'remove-all', 'listed', '--yes', '--storage', `lmdb:${store}`],
      { env },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(refused.stderr).toContain('JR_ERR_INVALID_ARGUMENT');
  }, 40_000);
});
