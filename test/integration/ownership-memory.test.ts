// Ownership under faults, memory-storage nodes: real child processes, SIGKILL and SIGSTOP.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  JobFailedError,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type Feedback,
} from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/ownership-jobs/', import.meta.url));

interface Run {
  id: string;
  node: string;
  delivery: number;
  at: number;
  n?: number;
}

const distributors: Distributor[] = [];
const processes: NodeProcess[] = [];
/** Set while tearing down, so a test's supervisor spawns no more nodes. */
let tearingDown = false;
afterEach(async () => {
  tearingDown = true;
  for (const p of processes.splice(0)) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await p.exited;
  }
  for (const d of distributors.splice(0)) await d.close({ timeout: 100 });
  tearingDown = false;
});

function runLog(): { path: string; runs: () => Run[] } {
  const path = join(mkdtempSync(join(tmpdir(), 'jr-own-')), 'runs.jsonl');
  return {
    path,
    runs: () =>
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as Run)
        : [],
  };
}

async function distributor(options: { maxDeliveries?: number; maxFrameSize?: number } = {}) {
  const d = await startDistributor({ port: 0, ...options });
  distributors.push(d);
  const feedbacks: Feedback[] = [];
  d.on('feedback', (fb) => feedbacks.push(fb));
  return { d, addr: `127.0.0.1:${d.address.port}`, feedbacks };
}

function node(
  name: string,
  addr: string,
  log: string,
  concurrency = 8,
  extra: string[] = [],
): NodeProcess {
  const p = spawnNode({
    name,
    distributors: [addr],
    jobs: JOBS,
    concurrency,
    extra,
    env: { JR_RUN_LOG: log },
  });
  processes.push(p);
  return p;
}

const connected = (d: Distributor, names: string[]) =>
  waitUntil(
    () => names.every((n) => d.nodes().some((s) => s.name === n)),
    20_000,
    `nodes ${names.join(', ')}`,
  );

/** 1,000 `own.where` jobs due at `runAt`, numbered from `from` (an enqueueMany batch). */
const whereBatch = (from: number, runAt: number) =>
  Array.from({ length: 1000 }, (_, i) => ({
    job: 'own.where',
    args: { i: from + i },
    options: { runAt },
  }));

/** Every handle's outcome, once all have settled. */
const settle = (ps: Promise<unknown>[]) => Promise.allSettled(ps);

describe('ownership - memory nodes under SIGSTOP and SIGKILL', () => {
  it('a node frozen past its lease runs nothing on waking that was re-sent meanwhile', async () => {
    const { d, addr, feedbacks } = await distributor();
    const log = runLog();
    const a = node('frozen', addr, log.path);
    node('spare', addr, log.path);
    await connected(d, ['frozen', 'spare']);
    const requeued = new Set<string>();
    d.on('job:requeued', (id, from) => from === 'frozen' && requeued.add(id));

    // Delayed jobs due while the node is frozen, periodic ones running on it, all sent to it.
    const delayed = Array.from({ length: 30 }, (_, i) =>
      d.enqueue('own.logged', {}, { node: 'frozen', after: `${1000 + i * 100}ms` }),
    );
    const periodic = Array.from({ length: 5 }, () =>
      d.enqueue('own.count', { n: 0, stopAt: 12 }, { node: 'frozen', period: '300ms' }),
    );
    await Promise.all([...delayed, ...periodic].map((h) => h.accepted));
    await sleep(400);
    a.kill('SIGSTOP');
    const frozenAt = Date.now();
    await waitUntil(
      () => !d.nodes().some((n) => n.name === 'frozen'),
      10_000,
      'frozen node dropped',
    );
    // 5 s by default; JR_FREEZE_MS=10000 gives the 10 s figure.
    await sleep(Number(process.env.JR_FREEZE_MS ?? 5000) - (Date.now() - frozenAt));
    const wokeAt = Date.now();
    a.kill('SIGCONT');

    const results = await settle([...delayed, ...periodic].map((h) => h.result));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    await connected(d, ['frozen']); // it came back and works normally
    // Nothing the distributor had sent elsewhere ran on the frozen node after it woke.
    const stale = log
      .runs()
      .filter((r) => r.node === 'frozen' && r.at >= wokeAt && requeued.has(r.id));
    expect(requeued.size).toBeGreaterThanOrEqual(35);
    expect(stale).toEqual([]);
    console.log(
      `freeze: ${requeued.size} jobs re-sent from the frozen node, ${stale.length} of them run by it after SIGCONT`,
    );
    // Each periodic job: exactly one success feedback per completed run (12 runs, the last one cancels).
    for (const h of periodic) {
      const keys = feedbacks.filter((f) => f.jobId === h.id).map((f) => f.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys).toHaveLength(12);
      const args = (await h.result) as { n: number };
      expect(args.n).toBe(12);
    }
    // Each delayed job ran once: none was due before the freeze.
    for (const h of delayed) expect(log.runs().filter((r) => r.id === h.id)).toHaveLength(1);
  }, 40_000);

  it('jobs prefetched by a node that dies are re-sent and complete elsewhere; only the running one counts a crash', async () => {
    // maxDeliveries 1: a single crash counted against a job quarantines it, so a prefetched
    // job wrongly taken for running would show up as quarantined.
    const { d, addr } = await distributor({ maxDeliveries: 1 });
    const log = runLog();
    const victim = node('victim', addr, log.path, 1, ['--prefetch', '50']);
    await connected(d, ['victim']);
    const handles = Array.from({ length: 30 }, () => d.enqueue('own.logged', { ms: 5000 }));
    await Promise.all(handles.map((h) => h.accepted));
    expect(d.nodes()[0]).toMatchObject({ capacity: 1, window: 51, held: 30 });
    // One runs (concurrency 1); 29 wait in the node's ready queue.
    await waitUntil(() => log.runs().length === 1, 10_000, 'the first run');
    const running = log.runs()[0]!.id;
    victim.kill('SIGKILL');
    await waitUntil(() => d.nodes().length === 0, 10_000, 'victim dropped');
    node('spare', addr, log.path, 30);
    const results = await settle(handles.map((h) => h.result));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [handles[i]!.id] : []));
    expect(failed).toEqual([running]);
    const err = results[handles.findIndex((h) => h.id === running)] as PromiseRejectedResult;
    expect((err.reason as JobFailedError).error.code).toBe(ErrorCodes.PoisonJob);
    // The 29 prefetched ones ran once each, on the spare, as a second delivery.
    const others = log.runs().filter((r) => r.id !== running);
    expect(others).toHaveLength(29);
    expect(others.every((r) => r.node === 'spare' && r.delivery === 2)).toBe(true);
  }, 40_000);

  it('a self-cancelling periodic job (3 runs) across a SIGKILL: at most 4 runs, exactly 3 success feedbacks', async () => {
    const { d, addr, feedbacks } = await distributor();
    const log = runLog();
    const a = node('doomed', addr, log.path);
    node('heir', addr, log.path);
    await connected(d, ['doomed', 'heir']);
    const successes = new Map<string, number>();
    const handles = Array.from({ length: 10 }, () =>
      d.enqueue(
        'own.count',
        { n: 0, stopAt: 3 },
        { node: 'doomed', period: '700ms' },
        (_args, info) => successes.set(info.jobId, (successes.get(info.jobId) ?? 0) + 1),
      ),
    );
    await Promise.all(handles.map((h) => h.accepted));
    // Let each run once or twice on the doomed node, then kill it.
    await waitUntil(() => log.runs().length >= 10, 10_000, 'first runs');
    await sleep(300);
    a.kill('SIGKILL');
    const results = await settle(handles.map((h) => h.result));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const h of handles) {
      const runs = log.runs().filter((r) => r.id === h.id);
      expect(runs.length).toBeLessThanOrEqual(4);
      expect(successes.get(h.id)).toBe(3);
      expect(feedbacks.filter((f) => f.jobId === h.id && f.outcome !== 'error')).toHaveLength(3);
      // The heir resumed from the last completed run: n went 1, 2, 3 and never restarted.
      expect(((await h.result) as { n: number }).n).toBe(3);
    }
    expect(log.runs().some((r) => r.node === 'heir')).toBe(true);
  }, 30_000);

  it('a job that kills its process is quarantined after maxDeliveries node deaths; innocent jobs are not', async () => {
    const { d, addr } = await distributor({ maxDeliveries: 3 });
    const log = runLog();
    // A supervisor: every node that dies is replaced by a new one.
    let spawned = 0;
    const deaths: string[] = [];
    const supervise = () => {
      const name = `w${++spawned}`;
      const p = node(name, addr, log.path);
      void p.exited.then(() => {
        deaths.push(name);
        if (spawned < 8 && !tearingDown) supervise();
      });
    };
    supervise();
    supervise();
    await waitUntil(() => d.nodes().length === 2, 20_000, 'two nodes');
    const quarantined: { id: string; nodes: string[] }[] = [];
    d.on('job:quarantined', (id, _name, nodes) => quarantined.push({ id, nodes }));
    // Innocent jobs waiting on the nodes' timers meanwhile.
    const innocent = Array.from({ length: 20 }, () => d.enqueue('own.logged', {}, { after: 8 }));
    await Promise.all(innocent.map((h) => h.accepted));
    // Innocent jobs running beside the poison job when it strikes: each crash is counted
    // against them too, but a crash suspect then runs alone, so they never reach the cap.
    const beside = Array.from({ length: 6 }, () => d.enqueue('own.logged', { ms: 1500 }));
    await sleep(200);
    const poison = d.enqueue('own.exit', {}, { maxAttempt: 1 });
    const outcome = await poison.result.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(JobFailedError);
    expect((outcome as JobFailedError).error.code).toBe(ErrorCodes.PoisonJob);
    expect(log.runs().filter((r) => r.id === poison.id)).toHaveLength(3);
    expect(deaths.length).toBeLessThanOrEqual(3);
    console.log(
      `poison: quarantined after ${quarantined[0]?.nodes.length} node deaths (${quarantined[0]?.nodes.join(', ')}); ${beside.length + innocent.length} innocent jobs all completed`,
    );
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]!.id).toBe(poison.id);
    expect(quarantined[0]!.nodes).toHaveLength(3);
    // Never sent again: no fourth run, and the innocent jobs all complete.
    const innocentResults = await settle([...innocent, ...beside].map((h) => h.result));
    expect(innocentResults.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(log.runs().filter((r) => r.id === poison.id)).toHaveLength(3);
  }, 40_000);

  it('a burst of 300k delayed jobs (~20 MB) is taken without the node being cut; killed, a peer takes them all back', async () => {
    const { d, addr } = await distributor();
    const log = runLog();
    node('burst-a', addr, log.path);
    await connected(d, ['burst-a']);
    const cut: string[] = [];
    d.on('node:disconnected', (n, reason) => cut.push(`${n.name}: ${reason.message}`));
    // One synchronous loop, as an application scheduling reminders would write it: more
    // bytes in one turn than the link's slow-consumer cap (16 MiB).
    const n = 300_000;
    const due = Date.now() + 12_000;
    const handles = [];
    for (let k = 0; k < n; k += 1000) {
      handles.push(...d.enqueueMany(whereBatch(k, due)));
    }
    expect(d.stats().waiting).toBeLessThan(100_000); // within maxWaiting: nothing refused
    await Promise.all(handles.map((h) => h.accepted));
    // Before: cut as a slow consumer, again after every reconnect. (A loaded machine may
    // still see a heartbeat timeout: the synchronous loop above is the distributor's own.)
    const slow = () => cut.filter((m) => /does not (read|keep up)/.test(m));
    expect(slow()).toEqual([]);

    // The node dies holding them all: the distributor sends them to the one left.
    node('burst-b', addr, log.path);
    await connected(d, ['burst-b']);
    processes[0]!.kill('SIGKILL');
    const results = await settle(handles.map((h) => h.result));
    const ranOn = new Map<string, number>();
    for (const r of results) {
      const where = r.status === 'fulfilled' ? (r.value as { ranOn: string }).ranOn : 'failed';
      ranOn.set(where, (ranOn.get(where) ?? 0) + 1);
    }
    expect(Object.fromEntries(ranOn)).toEqual({ 'burst-b': n });
    expect(slow()).toEqual([]);
    expect(cut.some((m) => m.startsWith('burst-a: '))).toBe(true);
  }, 60_000);

  it('a node holding more job ids than a frame takes, whose link drops, asks about them in parts and runs them all', async () => {
    const { d } = await distributor({ maxFrameSize: 1024 * 1024 });
    // A relay between node and distributor, so the test can cut the link under both.
    const relayed = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const out = net.connect(d.address.port, '127.0.0.1');
      const cut = () => {
        for (const s of [inbound, out]) {
          s.destroy();
          relayed.delete(s);
        }
      };
      for (const s of [inbound, out]) {
        relayed.add(s);
        s.on('error', cut);
        s.on('close', cut);
      }
      inbound.pipe(out);
      out.pipe(inbound);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const registry = new JobRegistry();
    registry.define('own.where', (_args, ctx) => ({ ranOn: ctx.node }));
    // In this process, 1 MiB frames both ways: 60k ids (~1.4 MB) are more than one holds.
    const n1 = await startNode({
      name: 'relink',
      distributors: [`127.0.0.1:${(relay.address() as net.AddressInfo).port}`],
      registry,
      concurrency: 50,
      maxFrameSize: 1024 * 1024,
    });
    try {
      await connected(d, ['relink']);
      const n = 60_000;
      const due = Date.now() + 4000;
      const handles = [];
      for (let k = 0; k < n; k += 1000) {
        handles.push(...d.enqueueMany(whereBatch(k, due)));
      }
      await Promise.all(handles.map((h) => h.accepted));
      for (const s of relayed) s.destroy(); // the link drops; the node redials
      await waitUntil(() => !d.nodes().some((x) => x.name === 'relink'), 10_000, 'link down');
      // Before: its one `reconcile` was over the frame limit, and the refused send was an
      // unhandled rejection (which ends a node's process).
      const results = await settle(handles.map((h) => h.result));
      expect(results.filter((r) => r.status !== 'fulfilled')).toEqual([]);
    } finally {
      await n1.stop();
      await new Promise<void>((r) => relay.close(() => r()));
      for (const s of relayed) s.destroy();
    }
  }, 60_000);

  it('a CPU-bound job that blocks its node past the heartbeat runs at most maxDeliveries times and settles', async () => {
    const { d, addr } = await distributor({ maxDeliveries: 3 });
    const log = runLog();
    node('b1', addr, log.path, 1);
    node('b2', addr, log.path, 1);
    await connected(d, ['b1', 'b2']);
    const h = d.enqueue('own.block', { ms: 4500 }, { maxAttempt: 1 });
    const r = await h.result.then(
      (v) => ({ ok: v }),
      (err: unknown) => ({ err }),
    );
    // Either a node finished it (its result came back after it woke) or it was quarantined.
    if ('err' in r) expect((r.err as JobFailedError).error.code).toBe(ErrorCodes.PoisonJob);
    else expect(r.ok).toMatchObject({ ranOn: expect.any(String) });
    await sleep(1000);
    expect(log.runs().filter((x) => x.id === h.id).length).toBeLessThanOrEqual(3);
  }, 40_000);
});
