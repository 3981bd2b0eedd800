import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
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

function connection(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

export async function bullmqProducer(cfg: ProducerConfig): Promise<ProducerAdapter> {
  const queue = new Queue<Payload>(cfg.queue, {
    connection: connection(cfg.redisUrl),
    streams: { events: { maxLen: cfg.eventsMaxLen } },
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
  });
  const events = new QueueEvents(cfg.queue, { connection: connection(cfg.redisUrl) });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  let done: (i: number, s: Stamp | undefined, t: number) => void = () => {};
  events.on('completed', ({ returnvalue }) => {
    const t = wallNow();
    const r = returnvalue as unknown as Stamp | null | undefined;
    done(r?.i ?? -1, r ?? undefined, t);
  });
  return {
    address: undefined,
    async waitForWorkers() {},
    add(i, kind, dueAt) {
      const data: Payload = kind === 'stamp' ? { i, st: 1 } : { i };
      return queue.add(kind, data, dueAt === undefined ? undefined : { delay: dueAt - Date.now() });
    },
    async addMany(from, count, dueAt) {
      for (let sent = 0; sent < count;) {
        const n = Math.min(1000, count - sent);
        const opts = dueAt === undefined ? {} : { delay: dueAt - Date.now() };
        await queue.addBulk(
          Array.from({ length: n }, (_, k) => ({
            name: 'noop',
            data: { i: from + sent + k },
            opts,
          })),
        );
        sent += n;
      }
    },
    addBulk(from, count) {
      return queue.addBulk(
        Array.from({ length: count }, (_, k) => ({ name: 'noop', data: { i: from + k } })),
      );
    },
    onDone(cb) {
      done = cb;
    },
    async close() {
      await events.close();
      await queue.close();
    },
  };
}

export async function bullmqWorker(cfg: WorkerConfig): Promise<WorkerAdapter> {
  const worker = new Worker<Payload>(
    cfg.queue,
    async (job: Job<Payload>) =>
      job.data.st === 1 ? stamp(job.data.i, job.timestamp + (job.opts.delay ?? 0)) : undefined,
    {
      connection: connection(cfg.redisUrl),
      concurrency: cfg.concurrency,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    },
  );
  worker.on('error', () => {});
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
