import BeeQueue from 'bee-queue';
import { wallNow } from '../lib/clock.ts';
import { stamp } from './stamp.ts';
import type {
  Payload,
  ProducerAdapter,
  ProducerConfig,
  Stamp,
  WorkerAdapter,
  WorkerConfig,
} from './types.ts';

function redis(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export async function beeProducer(cfg: ProducerConfig): Promise<ProducerAdapter> {
  const queue = new BeeQueue<Payload>(cfg.queue, {
    redis: redis(cfg.redisUrl),
    isWorker: false,
    getEvents: true,
    sendEvents: false,
    storeJobs: false,
    activateDelayedJobs: false,
    removeOnSuccess: true,
    removeOnFailure: true,
  });
  await queue.ready();
  let done: (i: number, s: Stamp | undefined, t: number) => void = () => {};
  queue.on('job succeeded', (_id: string, result: Stamp | null | undefined) => {
    const t = wallNow();
    done(result?.i ?? -1, result ?? undefined, t);
  });
  const job = (data: Payload, dueAt: number | undefined) => {
    const j = queue.createJob(data);
    if (dueAt !== undefined) j.delayUntil(dueAt);
    return j;
  };
  /** `saveAll` resolves with the jobs it could not save (it does not reject): those fail here. */
  const saveAll = async (jobs: BeeQueue.Job<Payload>[]) => {
    const errors = await queue.saveAll(jobs);
    if (errors.size > 0) {
      const first: unknown = errors.values().next().value;
      throw new Error(
        `saveAll: ${errors.size} of ${jobs.length} jobs not saved; first: ${String(first)}`,
      );
    }
  };
  return {
    address: undefined,
    async waitForWorkers() {},
    add(i, kind, dueAt) {
      return job(kind === 'stamp' ? { i, st: 1 } : { i }, dueAt).save();
    },
    async addMany(from, count, dueAt) {
      for (let sent = 0; sent < count;) {
        const n = Math.min(1000, count - sent);
        await saveAll(Array.from({ length: n }, (_, k) => job({ i: from + sent + k }, dueAt)));
        sent += n;
      }
    },
    addBulk(from, count) {
      return saveAll(Array.from({ length: count }, (_, k) => job({ i: from + k }, undefined)));
    },
    onDone(cb) {
      done = cb;
    },
    async close() {
      await queue.close(1000);
    },
  };
}

export async function beeWorker(cfg: WorkerConfig): Promise<WorkerAdapter> {
  const queue = new BeeQueue<Payload>(cfg.queue, {
    redis: redis(cfg.redisUrl),
    isWorker: true,
    getEvents: false,
    sendEvents: true,
    storeJobs: false,
    // Bee-Queue runs delayed jobs only where this is on (defaults otherwise).
    activateDelayedJobs: true,
    removeOnSuccess: true,
    removeOnFailure: true,
  });
  await queue.ready();
  queue.process(cfg.concurrency, async (job: BeeQueue.Job<Payload>) => {
    const opts = job.options as { delay?: number; timestamp: number };
    return job.data.st === 1 ? stamp(job.data.i, opts.delay ?? opts.timestamp) : undefined;
  });
  return { close: () => queue.close(1000) };
}
