// CPU per job of the Redis storage alone (compare two branches with it), in this process: for N jobs, in turns of `batch`
// jobs, what a durable node writes for one no-op job (saved on receipt, marked started,
// finished with its feedback, the feedback removed on acknowledgement).
// Usage: node --import tsx bench/tools/storage-micro.ts [jobs] [batch]
import { startRedisServer } from '../../test/helpers/redis-server.ts';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import type { Feedback, JobRecord } from '../../src/model/job.ts';

const jobs = Number(process.argv[2] ?? 200_000);
const batch = Number(process.argv[3] ?? 16);
const server = await startRedisServer();
const storage = new RedisStorage({ url: server.url });
await storage.open('micro');
const now = Date.now();
const record = (i: number, started: boolean): JobRecord => ({
  id: `job-${i}`,
  name: 'noop',
  args: { i },
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
const feedback = (i: number): Feedback => ({
  key: `job-${i}`,
  jobId: `job-${i}`,
  distributor: 'd41c8e2f0a9b7c63d41c8e2f0a9b7c63',
  node: 'micro',
  outcome: 'success',
  final: true,
  args: { i },
  attempt: 1,
});
/**
 * Each turn (one batch, one round trip) holds four stages of four groups of jobs, as in a
 * busy node: group k received, k-1 marked started, k-2 finished, k-3's feedbacks removed.
 */
async function run(n: number): Promise<void> {
  for (let at = 0; at < n + 3 * batch; at += batch) {
    const turn: Promise<void>[] = [];
    for (let i = at; i < at + batch; i++) {
      if (i < n) turn.push(storage.save(record(i, false)));
      const m = i - batch;
      if (m >= 0 && m < n) turn.push(storage.save(record(m, true)));
      const f = i - 2 * batch;
      if (f >= 0 && f < n) turn.push(storage.finish(`job-${f}`, undefined, feedback(f)));
    }
    const keys: string[] = [];
    for (let i = at - 3 * batch; i < at - 2 * batch; i++)
      if (i >= 0 && i < n) keys.push(`job-${i}`);
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
  `${jobs} jobs in turns of ${batch}: ${((cpu.user + cpu.system) / jobs).toFixed(2)} us CPU per job ` +
    `(user ${(cpu.user / jobs).toFixed(2)}, system ${(cpu.system / jobs).toFixed(2)}), ${Math.round(jobs / (ms / 1000))} jobs/s`,
);
await storage.close();
await server.stop();
