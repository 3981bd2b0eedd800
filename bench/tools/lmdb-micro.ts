// The LMDB storage alone (issue #13): CPU per job and jobs/s for what a durable node writes
// for one no-op job, in turns of `batch` jobs, each turn waiting for the previous one (as
// the node's group commit does). `pattern`: `full` (saved on receipt, marked started,
// finished with its feedback, the feedback removed on acknowledgement) or `lean` (saved
// already marked started, finished, the feedback removed with the next batch).
// Usage: node --import tsx bench/tools/lmdb-micro.ts [jobs] [batch] [full|lean] [flush|commit]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdGenerator } from '../../src/model/ids.ts';
import type { Feedback, JobRecord } from '../../src/model/job.ts';
import { LmdbStorage, type LmdbSync } from '../../src/storage/lmdb-storage.ts';

const jobs = Number(process.argv[2] ?? 200_000);
const batch = Number(process.argv[3] ?? 50);
const pattern = process.argv[4] ?? 'full';
const sync = (process.argv[5] ?? 'flush') as LmdbSync;
const dir = mkdtempSync(join(tmpdir(), 'jr-lmdb-micro-'));
const storage = new LmdbStorage({ path: dir, sync });
await storage.open('micro');
const ids = new IdGenerator();
const now = Date.now();
const record = (id: string, started: boolean): JobRecord => ({
  id,
  name: 'bench.noop',
  args: { i: 1 },
  distributor: 'd41c8e2f0a9b7c63d41c8e2f0a9b7c63',
  enqueuedAt: now,
  runAt: now,
  delivery: 1,
  node: 'micro',
  status: started ? 'in progress' : 'new',
  attempt: started ? 1 : 0,
  dueAt: now,
  runs: 0,
  updatedAt: now + 1,
  ...(started ? { startedAt: now + 1 } : {}),
});
const feedback = (id: string): Feedback => ({
  key: id,
  jobId: id,
  distributor: 'd41c8e2f0a9b7c63d41c8e2f0a9b7c63',
  node: 'micro',
  outcome: 'success',
  final: true,
  args: { i: 1 },
  attempt: 1,
});
/** Each turn: group k received, k-1 marked started (full), k-2 finished, k-3's feedbacks removed. */
async function run(n: number): Promise<void> {
  const all = Array.from({ length: n }, () => ids.next());
  const full = pattern === 'full';
  for (let at = 0; at < n + 3 * batch; at += batch) {
    const turn: Promise<void>[] = [];
    for (let i = at; i < at + batch; i++) {
      if (i < n) turn.push(storage.save(record(all[i]!, !full)));
      const m = i - batch;
      if (full && m >= 0 && m < n) turn.push(storage.markStarted(record(all[m]!, true)));
      const f = i - 2 * batch;
      if (f >= 0 && f < n) turn.push(storage.finish(all[f]!, undefined, feedback(all[f]!)));
    }
    const keys: string[] = [];
    for (let i = at - 3 * batch; i < at - 2 * batch; i++) if (i >= 0 && i < n) keys.push(all[i]!);
    turn.push(storage.removeFeedback(...keys));
    await Promise.all(turn);
  }
}
await run(20_000); // warm-up
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(jobs);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
console.log(
  `${jobs} jobs in turns of ${batch} (${pattern}, ${sync}): ${((cpu.user + cpu.system) / jobs).toFixed(2)} us CPU per job ` +
    `(user ${(cpu.user / jobs).toFixed(2)}, system ${(cpu.system / jobs).toFixed(2)}), ${Math.round(jobs / (ms / 1000))} jobs/s, ` +
    `${((ms * 1000 * batch) / jobs).toFixed(0)} us per turn`,
);
await storage.close();
rmSync(dir, { recursive: true, force: true });
