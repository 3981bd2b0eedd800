import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as Library from '../../src/index.ts';
import type { JobArgs, TlsOptions } from '../../src/index.ts';
import { sleep, tick, wallNow } from '../lib/clock.ts';
import { stamp } from './stamp.ts';
import type {
  Kind,
  ProducerAdapter,
  ProducerConfig,
  Stamp,
  WorkerAdapter,
  WorkerConfig,
} from './types.ts';

/**
 * The library under test: the build the bench made (`BENCH_JR_ENTRY`, compiled by tsc like
 * the published package), else the TypeScript sources through tsx (which adds a little
 * overhead of its own: `keepNames` wrappers).
 */
const jr = (await import(process.env.BENCH_JR_ENTRY ?? '../../src/index.ts')) as typeof Library;
const { JobRegistry, RedisStorage, startDistributor, startNode } = jr;

const NAMES: Record<Kind, string> = { noop: 'bench.noop', stamp: 'bench.stamp' };

/**
 * `BENCH_JR_METRICS=1`: the distributor and the nodes run with Prometheus metrics on (a
 * prom-client Registry each), to measure what they cost.
 */
const metrics = async (): Promise<{ metrics?: Library.MetricsRegistry }> => {
  if (process.env.BENCH_JR_METRICS !== '1') return {};
  const { Registry } = (await import('prom-client')).default;
  return { metrics: new Registry() };
};

/**
 * `BENCH_JR_TRACING=1`: the distributor and the nodes run with `tracing: true` and no
 * OpenTelemetry SDK registered (the API's no-op tracer), to measure what that costs.
 */
const tracing = (): { tracing?: true } =>
  process.env.BENCH_JR_TRACING === '1' ? { tracing: true } : {};

/**
 * Jobs enqueued and not yet accepted, at most, while bulk-loading: the bench's own pacing,
 * not the library's. It bounds how far the producer runs ahead of the node (a 1M-job load
 * would otherwise sit whole in the distributor's waiting queue); it shortens nothing that is
 * timed, since `addMany` returns only once the node has accepted every job.
 */
const MAX_UNACCEPTED = 50_000;

/** Jobs per `enqueueMany` call (the peers' bulk calls take as many). */
const CHUNK = 1000;

/**
 * jr-tls: mutual TLS (no shared secret, so that TLS is the only difference from
 * jr-memory), with the certificates bench/run.ts made for this run (in BENCH_TLS_DIR).
 */
function tlsFor(system: string, side: 'server' | 'client'): { tls?: TlsOptions } {
  if (system !== 'jr-tls') return {};
  const dir = process.env.BENCH_TLS_DIR;
  if (dir === undefined) throw new Error('jr-tls needs BENCH_TLS_DIR (set by bench/run.ts)');
  const read = (file: string) => readFileSync(join(dir, file));
  return {
    tls: { cert: read(`${side}.pem`), key: read(`${side}.key`), ca: read('ca.pem') },
  };
}

export async function jobReactorProducer(cfg: ProducerConfig): Promise<ProducerAdapter> {
  const d = await startDistributor({
    port: 0,
    id: cfg.name,
    maxWaiting: 10_000_000,
    ...tlsFor(cfg.system, 'server'),
    ...(await metrics()),
    ...tracing(),
  });
  let done: (i: number, s: Stamp | undefined, t: number) => void = () => {};
  // One callback for every job: the args carry the index (and the stamp, merged by the job).
  const onSuccess = (args: JobArgs) => {
    const t = wallNow();
    done(args.i as number, args.s === undefined ? undefined : (args as unknown as Stamp), t);
  };
  return {
    address: `127.0.0.1:${d.address.port}`,
    async waitForWorkers(n) {
      const deadline = Date.now() + 30_000;
      while (d.nodes().filter((x) => x.jobs.includes('bench.stamp')).length < n) {
        if (Date.now() > deadline) throw new Error(`only ${d.nodes().length} of ${n} nodes came`);
        await sleep(10);
      }
    },
    add(i, kind, dueAt) {
      d.enqueue(
        NAMES[kind],
        kind === 'stamp' ? { i, st: 1 } : { i },
        dueAt === undefined ? undefined : { runAt: dueAt },
        onSuccess,
      );
      return undefined;
    },
    async addMany(from, count, dueAt) {
      // `enqueueMany` a chunk at a time, counting acceptances by the node (an instant job is
      // accepted as the node takes it to run: what is timed for those).
      const options = dueAt === undefined ? {} : { runAt: dueAt };
      let accepted = 0;
      const onAccepted = () => void accepted++;
      d.on('job:accepted', onAccepted);
      try {
        for (let sent = 0; sent < count;) {
          const end = Math.min(count, sent + CHUNK);
          const batch = [];
          for (let k = sent; k < end; k++) {
            batch.push({ job: NAMES.noop, args: { i: from + k }, options });
          }
          d.enqueueMany(batch);
          sent = end;
          await tick();
          // Over the limit: wait on a timer. Spinning on setImmediate kept the producer's
          // core busy and took CPU from the node (bulk-instant, memory: 30k -> 37-39k jobs/s).
          while (sent - accepted > MAX_UNACCEPTED) await sleep(1);
        }
        const deadline = Date.now() + 120_000;
        while (accepted < count) {
          if (Date.now() > deadline) throw new Error(`only ${accepted} of ${count} accepted`);
          await sleep(1);
        }
      } finally {
        d.off('job:accepted', onAccepted);
      }
    },
    addBulk(from, count) {
      const batch = [];
      for (let k = 0; k < count; k++) batch.push({ job: NAMES.noop, args: { i: from + k } });
      d.enqueueMany(batch, onSuccess);
      return undefined;
    },
    onDone(cb) {
      done = cb;
    },
    close: () => d.close({ timeout: 100 }),
  };
}

export async function jobReactorWorker(cfg: WorkerConfig): Promise<WorkerAdapter> {
  const registry = new JobRegistry();
  registry.define('bench.noop', () => undefined);
  registry.define('bench.stamp', (args, ctx) => stamp(args.i as number, ctx.runAt.getTime()));
  const node = await startNode({
    name: cfg.name,
    distributors: cfg.distributors,
    storage:
      cfg.system === 'jr-redis'
        ? new RedisStorage({ url: cfg.redisUrl, prefix: cfg.queue })
        : cfg.system === 'jr-lmdb'
          ? `lmdb:${cfg.storeDir}` // sync: 'flush', the default (on disk before accepted)
          : 'memory',
    concurrency: cfg.concurrency,
    registry,
    ...tlsFor(cfg.system, 'client'),
    ...(await metrics()),
    ...tracing(),
  });
  return { close: () => node.stop({ timeout: 1000 }) };
}
