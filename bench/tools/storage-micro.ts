// CPU per job of a durable storage alone (compare two branches with it), in this process:
// for N jobs, in turns of `batch` jobs, what a durable node writes for one no-op job (saved
// on receipt, marked started, finished with its feedback, the feedback removed on
// acknowledgement), each turn waiting for the previous one as the node's group commit does.
// Usage: node --import tsx bench/tools/storage-micro.ts [jobs] [batch] [redis|lmdb]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '../../test/helpers/redis-server.ts';
import { IdGenerator } from '../../src/model/ids.ts';
import { LmdbStorage } from '../../src/storage/lmdb-storage.ts';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import type { JobStorage } from '../../src/storage/job-storage.ts';
import type { Feedback, JobRecord } from '../../src/model/job.ts';

const jobs = Number(process.argv[2] ?? 200_000);
const batch = Number(process.argv[3] ?? 16);
const kind = process.argv[4] ?? 'redis';
let storage: JobStorage;
let done: () => Promise<void>;
if (kind === 'lmdb') {
  const dir = mkdtempSync(join(tmpdir(), 'jr-storage-micro-'));
  storage = new LmdbStorage({ path: dir });
  done = async () => rmSync(dir, { recursive: true, force: true });
} else {
  const server = await startRedisServer();
  storage = new RedisStorage({ url: server.url });
  done = () => server.stop();
}
await storage.open('micro');
const ids = new IdGenerator(); // the distributor's ids (the LMDB storage packs them)
const now = Date.now();
const record = (id: string, started: boolean): JobRecord => ({
  id,
  name: 'noop',
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
const mark = (r: JobRecord) => (storage.markStarted ? storage.markStarted(r) : storage.save(r));
/**
 * Each turn (one batch, one round trip) holds four stages of four groups of jobs, as in a
 * busy node: group k received, k-1 marked started, k-2 finished, k-3's feedbacks removed.
 */
async function run(n: number): Promise<void> {
  const all = Array.from({ length: n }, () => ids.next());
  for (let at = 0; at < n + 3 * batch; at += batch) {
    const turn: Promise<void>[] = [];
    for (let i = at; i < at + batch; i++) {
      if (i < n) turn.push(storage.save(record(all[i]!, false)));
      const m = i - batch;
      if (m >= 0 && m < n) turn.push(mark(record(all[m]!, true)));
      const f = i - 2 * batch;
      if (f >= 0 && f < n) turn.push(storage.finish!(all[f]!, undefined, feedback(all[f]!)));
    }
    const keys: string[] = [];
    for (let i = at - 3 * batch; i < at - 2 * batch; i++) if (i >= 0 && i < n) keys.push(all[i]!);
    turn.push(storage.removeFeedback(keys));
    await Promise.all(turn);
  }
}
// lmdb-js's commits do not keep the event loop alive: without this the process would exit
// while a turn awaits its commit.
const alive = setInterval(() => {}, 1000);
await run(20_000); // warm-up
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(jobs);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
console.log(
  `${kind}: ${jobs} jobs in turns of ${batch}: ${((cpu.user + cpu.system) / jobs).toFixed(2)} us CPU per job ` +
    `(user ${(cpu.user / jobs).toFixed(2)}, system ${(cpu.system / jobs).toFixed(2)}), ${Math.round(jobs / (ms / 1000))} jobs/s`,
);
await storage.close();
await done();
clearInterval(alive);
