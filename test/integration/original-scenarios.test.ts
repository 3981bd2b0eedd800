import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistributor, type Distributor, type JobArgs } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

// JobReactor's own integration scenarios (spec/integration), against a node in a child
// process, in real time. The timings are the original's; assertions leave slack for a
// busy machine but never allow an early run.

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
let d: Distributor;
let nodeProcess: NodeProcess;

beforeAll(async () => {
  d = await startDistributor({ port: 0 });
  nodeProcess = spawnNode({
    name: 'original',
    distributors: [`127.0.0.1:${d.address.port}`],
    jobs: JOBS,
    concurrency: 16,
    extra: ['--retry-multiplier', '0', '--max-attempt', '5'],
  });
  await waitUntil(() => d.nodes().length === 1, 20_000);
});

afterAll(async () => {
  nodeProcess.kill('SIGKILL');
  await nodeProcess.exited;
  await d.close({ timeout: 100 });
});

describe('original scenarios - real time, node in a child process', () => {
  it('after 2: not within 1 s, runs later; runAt now+2 the same; after 0.3 (sub-second) is honoured', async () => {
    const t0 = Date.now();
    const runs: JobArgs[] = [];
    d.enqueue('it.when', {}, { after: 2 }, (a) => void runs.push({ ...a, kind: 'after' }));
    d.enqueue(
      'it.when',
      {},
      { runAt: new Date(t0 + 2000) },
      (a) => void runs.push({ ...a, kind: 'runAt' }),
    );
    d.enqueue('it.when', {}, { after: 0.3 }, (a) => void runs.push({ ...a, kind: 'sub' }));
    await sleep(1000);
    expect(runs.map((r) => r.kind)).toEqual(['sub']);
    await waitUntil(() => runs.length === 3, 5000);
    for (const r of runs) expect(r.startedAt as number).toBeGreaterThanOrEqual(r.runAt as number);
    expect((runs[0]!.startedAt as number) - t0).toBeGreaterThanOrEqual(300);
    expect(runs.filter((r) => (r.startedAt as number) - t0 >= 2000)).toHaveLength(2);
  });

  it('period 2 gives 1, 2, 3 runs; after 3 + period 3 gives none within 2 s, then 1, then 2', async () => {
    const every: number[] = [];
    const slots: number[] = [];
    const delayed: number[] = [];
    const t0 = Date.now();
    const p1 = d.enqueue('it.when', {}, { period: 2 }, (a) => {
      every.push(a.startedAt as number);
      slots.push(a.runAt as number);
    });
    const p2 = d.enqueue(
      'it.when',
      {},
      { after: 3, period: 3 },
      (a) => void delayed.push(a.startedAt as number),
    );
    await waitUntil(() => every.length === 1, 1500);
    await sleep(1900);
    expect(delayed).toHaveLength(0);
    await waitUntil(() => every.length === 2, 1500);
    await waitUntil(() => delayed.length === 1, 2500);
    await waitUntil(() => every.length === 3, 2500);
    await waitUntil(() => delayed.length === 2, 4000);
    expect((delayed[0] ?? 0) - t0).toBeGreaterThanOrEqual(3000);
    expect((delayed[1] ?? 0) - t0).toBeGreaterThanOrEqual(6000);
    for (let i = 0; i < 3; i++) expect(every[i]).toBeGreaterThanOrEqual(slots[i]!);
    // Fixed rate: slots 2 s apart, not 2 s after each run ended.
    expect([(slots[1] ?? 0) - (slots[0] ?? 0), (slots[2] ?? 0) - (slots[1] ?? 0)]).toEqual([
      2000, 2000,
    ]);
    expect(await p1.cancel()).toBe(true);
    expect(await p2.cancel()).toBe(true);
  }, 20_000);

  it('a failing job is attempted exactly maxAttempt (5) times, then one error feedback', async () => {
    let errors = 0;
    const h = d.enqueue('it.fail', {}, {}, undefined, () => void errors++);
    const err = (await h.result.catch((e: unknown) => e)) as { error: { code: string } };
    expect(err.error.code).toBe('JR_ERR_JOB_THREW');
    await sleep(100);
    expect(errors).toBe(1);
    const attempts = await new Promise<number>((resolve) =>
      d.enqueue('it.fail', {}, {}, undefined, (_a, _e, info) => resolve(info.attempt)),
    );
    expect(attempts).toBe(5);
  });

  it('will_cancel (period 2): exactly 3 success feedbacks; will_cancel_in_errback: exactly 1 error feedback', async () => {
    const ok: JobArgs[] = [];
    const bad: JobArgs[] = [];
    d.enqueue('it.will_cancel', { n: 1 }, { period: 0.4 }, (a) => void ok.push(a));
    d.enqueue(
      'it.will_cancel_in_errback',
      { n: 0 },
      { period: 0.4 },
      undefined,
      (a) => void bad.push(a),
    );
    await waitUntil(() => ok.length === 3 && bad.length === 1, 5000);
    await sleep(1200);
    expect(ok).toHaveLength(3);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.error).toMatchObject({ name: 'ReferenceError' });
  });

  it('handle.cancel() reaches a job running in another process: its ctx.signal aborts', async () => {
    const h = d.enqueue('it.wait_for_cancel', {});
    await h.accepted;
    await sleep(100);
    expect(await h.cancel()).toBe(true);
    await expect(h.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
  });
});
