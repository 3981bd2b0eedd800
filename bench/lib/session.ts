import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isJobReactor,
  type ProducerConfig,
  type SystemId,
  type WorkerConfig,
} from '../adapters/types.ts';
import { Child } from './ipc.ts';
import type { BenchRedis } from './redis-server.ts';

const PRODUCER = fileURLToPath(new URL('../procs/producer.ts', import.meta.url));
const WORKER = fileURLToPath(new URL('../procs/worker.ts', import.meta.url));

/** Every system runs its jobs with this many at once per worker (as in the reference figures). */
export const CONCURRENCY = 50;

export interface Topology {
  producers: number;
  workers: number;
  /** BullMQ events stream length. @default 500000 */
  eventsMaxLen?: number;
}

export interface Session {
  system: SystemId;
  queue: string;
  /** job-reactor LMDB: the run's store directory. */
  storeDir: string;
  producers: Child[];
  workers: Child[];
  redis: BenchRedis;
}

let runSeq = 0;

/**
 * Starts the processes of one run (producers first: job-reactor nodes dial them), waits
 * until the workers can take jobs, runs `body`, and stops everything, whatever happens.
 * Redis is flushed before each run.
 */
export async function withSession<T>(
  system: SystemId,
  topology: Topology,
  redis: BenchRedis,
  body: (s: Session) => Promise<T>,
): Promise<T> {
  await redis.flush();
  const queue = `bench${++runSeq}`;
  const storeDir = join(tmpdir(), `jr-bench-${process.pid}`, queue);
  const base = { system, redisUrl: redis.url, queue, concurrency: CONCURRENCY, storeDir };
  const producers: Child[] = [];
  const workers: Child[] = [];
  try {
    for (let k = 0; k < topology.producers; k++) {
      const cfg: ProducerConfig = {
        ...base,
        name: `p${k + 1}`,
        eventsMaxLen: topology.eventsMaxLen ?? 500_000,
      };
      producers.push(new Child(PRODUCER, `${system}/p${k + 1}`, cfg));
    }
    for (let k = 0; k < topology.workers; k++) {
      const cfg: WorkerConfig = { ...base, name: `w${k + 1}`, distributors: [] };
      workers.push(new Child(WORKER, `${system}/w${k + 1}`, cfg));
    }
    const infos = (await Promise.all(producers.map((p) => p.ready))) as {
      address: string | undefined;
    }[];
    const distributors = infos.map((i) => i.address).filter((a): a is string => !!a);
    await Promise.all(workers.map((w) => w.ready));
    await Promise.all(workers.map((w) => w.call('start', distributors, 30_000)));
    if (isJobReactor(system)) {
      await Promise.all(producers.map((p) => p.call('waitForWorkers', topology.workers)));
    }
    return await body({ system, queue, storeDir, producers, workers, redis });
  } finally {
    // Producers first: a job-reactor node would otherwise redial a gone distributor.
    await Promise.all(producers.map((p) => p.stop()));
    await Promise.all(workers.map((w) => w.stop()));
    rmSync(storeDir, { recursive: true, force: true });
  }
}
