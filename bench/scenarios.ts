import { statSync } from 'node:fs';
import { join } from 'node:path';
import { isJobReactor, type SystemId } from './adapters/types.ts';
import type { Child } from './lib/ipc.ts';
import type { BenchRedis } from './lib/redis-server.ts';
import { withSession, type Session } from './lib/session.ts';
import type { DelayedResult, RateResult, ThroughputResult } from './procs/producer.ts';

/** Figures of one system, by metric key (see `METRICS` in report.ts). */
export type Metrics = Record<string, number>;

export interface Sizes {
  throughputN: number;
  /** Measured throughput runs per session; the best counts (the least disturbed by other load). */
  reps: number;
  /** Jobs of the short run that precedes every measured throughput run (JIT, connections). */
  warmupN: number;
  rates: { rate: number; durationMs: number; warmupMs: number }[];
  delayed: { n: number; fromMs: number; toMs: number };
  scaleDelayed: number[];
  scaleN: number;
  bulkN: number;
}

export type ThroughputTopology = '1node' | '2nodes' | '2producers';

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  lazyFree: number;
}

type Cpu = { user: number; system: number };
const cpuOf = async (cs: Child[]) => {
  const all = await Promise.all(cs.map((c) => c.call<Cpu>('cpu')));
  return all.reduce((a, c) => a + c.user + c.system, 0);
};

/**
 * Runs N no-op jobs through every producer at once; jobs/s from the first enqueue to the
 * last completion, and the CPU time producers and workers spent per job (µs). `bulk`: the
 * producers enqueue through the system's bulk API, 1,000 jobs a call.
 */
async function measureThroughput(
  s: Session,
  n: number,
  from: number,
  bulk: boolean,
): Promise<{ rate: number; producerCpu: number; workerCpu: number; redisCpu: number }> {
  const p0 = await cpuOf(s.producers);
  const w0 = await cpuOf(s.workers);
  const r0 = s.redis.cpuMicros();
  const producers = s.producers.length;
  const per = Math.floor(n / producers);
  // Peers' completion events reach every producer; job-reactor feedbacks only their own.
  const expect = isJobReactor(s.system) ? per : per * producers;
  const timeoutMs = 300_000;
  const rs = await Promise.all(
    s.producers.map((p, k) =>
      p.call<ThroughputResult>(
        'throughput',
        { n: per, from: from + k * per, expect, timeoutMs, bulk },
        timeoutMs + 10_000,
      ),
    ),
  );
  const start = Math.min(...rs.map((r) => r.start));
  const end = Math.max(...rs.map((r) => r.end));
  const total = per * producers;
  return {
    rate: (total * 1000) / (end - start),
    producerCpu: ((await cpuOf(s.producers)) - p0) / total,
    workerCpu: ((await cpuOf(s.workers)) - w0) / total,
    redisCpu: (s.redis.cpuMicros() - r0) / total,
  };
}

type Throughput = Awaited<ReturnType<typeof measureThroughput>>;

/** `reps` measured runs (after a warm-up the same way); the fastest, and the median rate. */
async function bestOf(
  s: Session,
  n: number,
  reps: number,
  warmupN: number,
  bulk = false,
): Promise<{ best: Throughput; median: number }> {
  await measureThroughput(s, warmupN, 10_000_000, bulk);
  const runs: Throughput[] = [];
  for (let r = 0; r < reps; r++) runs.push(await measureThroughput(s, n, r * n, bulk));
  const rates = runs.map((r) => r.rate).sort((a, b) => a - b);
  const best = runs.reduce((a, b) => (b.rate > a.rate ? b : a));
  return { best, median: rates[Math.floor((rates.length - 1) / 2)]! };
}

/**
 * The throughput rows of one topology. `bulk`: the producers use the bulk API instead
 * (job-reactor `enqueueMany`, BullMQ `addBulk`, Bee-Queue `saveAll`, 1,000 jobs a call),
 * reported under `throughput.<topology>.bulk…`.
 */
export async function throughputScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
  topology: ThroughputTopology,
  bulk = false,
): Promise<Metrics> {
  const producers = topology === '2producers' ? 2 : 1;
  const workers = topology === '2nodes' ? 2 : 1;
  return withSession(system, { producers, workers }, redis, async (s) => {
    const { best: r, median } = await bestOf(s, sizes.throughputN, sizes.reps, sizes.warmupN, bulk);
    const k = `throughput.${topology}${bulk ? '.bulk' : ''}`;
    return {
      [k]: r.rate,
      [`${k}.median`]: median,
      [`${k}.producerCpu`]: r.producerCpu,
      [`${k}.workerCpu`]: r.workerCpu,
      [`${k}.redisCpu`]: r.redisCpu,
    };
  });
}

export async function latencyScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
): Promise<Metrics> {
  return withSession(system, { producers: 1, workers: 1 }, redis, async (s) => {
    const out: Metrics = {};
    let from = 0;
    for (const r of sizes.rates) {
      const res = await s.producers[0]!.call<RateResult>('rate', { ...r, from }, 120_000);
      from += res.sent + 1;
      const k = `latency.${r.rate}`;
      out[`${k}.achieved`] = res.achievedRate;
      out[`${k}.start.p50`] = res.start.p50;
      out[`${k}.start.p99`] = res.start.p99;
      out[`${k}.start.max`] = res.start.max;
      out[`${k}.feedback.p50`] = res.feedback.p50;
      out[`${k}.feedback.p99`] = res.feedback.p99;
      out[`${k}.feedback.max`] = res.feedback.max;
    }
    return out;
  });
}

export async function delayedScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
): Promise<Metrics> {
  return withSession(system, { producers: 1, workers: 1 }, redis, async (s) => {
    const r = await s.producers[0]!.call<DelayedResult>(
      'delayed',
      { ...sizes.delayed, from: 0 },
      sizes.delayed.toMs + 60_000,
    );
    return {
      'delayed.p50': r.lateness.p50,
      'delayed.p99': r.lateness.p99,
      'delayed.max': r.lateness.max,
      'delayed.early': r.early,
      'delayed.earlyFine': r.earlyFine,
      'delayed.loadMs': r.loadMs,
    };
  });
}

const mem = (c: Child) => c.call<Mem>('mem', {}, 60_000);

/**
 * Instant-job throughput while `waiting` delayed jobs (due in an hour) sit on the node, and
 * what each waiting job costs: node RSS (job-reactor keeps them in the node process) and
 * Redis memory (Redis storage and the peers).
 */
export async function scaleScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
  waiting: number,
): Promise<Metrics> {
  return withSession(system, { producers: 1, workers: 1 }, redis, async (s) => {
    const producer = s.producers[0]!;
    const worker = s.workers[0]!;
    const k = `scale.${waiting}`;
    const out: Metrics = {};
    if (waiting > 0) {
      const w0 = await mem(worker);
      const p0 = await mem(producer);
      const r0 = await usedMemory(s);
      const d0 = diskBytes(s);
      const { ms } = await producer.call<{ ms: number }>(
        'load',
        { n: waiting, from: 20_000_000, dueInMs: 3_600_000 },
        600_000,
      );
      out[`${k}.loadRate`] = (waiting * 1000) / ms;
      const w1 = await mem(worker);
      const p1 = await mem(producer);
      const r1 = await usedMemory(s);
      const d1 = diskBytes(s);
      if (isJobReactor(system)) {
        out[`${k}.nodeRss`] = (w1.rss - w0.rss) / waiting;
        out[`${k}.nodeHeap`] = (w1.heapUsed - w0.heapUsed) / waiting;
        out[`${k}.nodeHeapTotal`] = (w1.heapTotal - w0.heapTotal) / waiting;
        out[`${k}.nodeExternal`] = (w1.external - w0.external) / waiting;
        out[`${k}.nodeLazyFree`] = (w1.lazyFree - w0.lazyFree) / waiting;
        out[`${k}.producerHeap`] = (p1.heapUsed - p0.heapUsed) / waiting;
      }
      if (system === 'jr-lmdb') out[`${k}.disk`] = (d1 - d0) / waiting;
      else if (system !== 'jr-memory' && system !== 'jr-tls')
        out[`${k}.redis`] = (r1 - r0) / waiting;
    }
    const { best, median } = await bestOf(s, sizes.scaleN, sizes.reps, sizes.warmupN);
    out[`${k}.throughput`] = best.rate;
    out[`${k}.throughput.median`] = median;
    // CPU per job of the best run: says which side pays for the waiting jobs.
    out[`${k}.producerCpu`] = best.producerCpu;
    out[`${k}.workerCpu`] = best.workerCpu;
    return out;
  });
}

/** Bytes of the LMDB store's data file (0 for other systems, or before it exists). */
function diskBytes(s: Session): number {
  if (s.system !== 'jr-lmdb') return 0;
  const st = statSync(join(s.storeDir, 'data.mdb'), { throwIfNoEntry: false });
  // Allocated blocks, not the apparent size: what the waiting jobs take on the disk.
  return st === undefined ? 0 : st.blocks * 512;
}

/** Redis memory in use; BullMQ's event stream is first cut to its default length (10 000). */
async function usedMemory(s: Session): Promise<number> {
  if (s.system === 'bullmq') {
    await s.redis.client.xtrim(`bull:${s.queue}:events`, 'MAXLEN', 10_000);
  }
  return s.redis.usedMemory();
}

export async function bulkScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
): Promise<Metrics> {
  return withSession(system, { producers: 1, workers: 1 }, redis, async (s) => {
    const { ms } = await s.producers[0]!.call<{ ms: number }>(
      'load',
      { n: sizes.bulkN, from: 0, dueInMs: 3_600_000 },
      600_000,
    );
    return { 'bulk.rate': (sizes.bulkN * 1000) / ms };
  });
}

/**
 * `bulkN` instant no-op jobs through the bulk API, 1,000 a call; jobs/s from the first call
 * until all are stored (job-reactor: accepted by the node, which runs them as it takes them).
 */
export async function bulkInstantScenario(
  system: SystemId,
  redis: BenchRedis,
  sizes: Sizes,
): Promise<Metrics> {
  return withSession(system, { producers: 1, workers: 1 }, redis, async (s) => {
    const { ms } = await s.producers[0]!.call<{ ms: number }>(
      'load',
      { n: sizes.bulkN, from: 0 },
      600_000,
    );
    return { 'bulkInstant.rate': (sizes.bulkN * 1000) / ms };
  });
}
