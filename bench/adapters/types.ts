/**
 * The systems compared. `jr-tls` is job-reactor with memory storage over mutual TLS (with
 * a shared secret inside), to measure what TLS costs against `jr-memory` in the same run;
 * it runs only when named in `--systems`.
 */
export const SYSTEMS = ['jr-memory', 'jr-redis', 'jr-lmdb', 'bullmq', 'bee', 'jr-tls'] as const;
export type SystemId = (typeof SYSTEMS)[number];
export const DEFAULT_SYSTEMS: readonly SystemId[] = ['jr-memory', 'jr-redis', 'bullmq', 'bee'];

export const LABELS: Record<SystemId, string> = {
  'jr-memory': 'job-reactor (memory)',
  'jr-redis': 'job-reactor (Redis)',
  'jr-lmdb': 'job-reactor (LMDB)',
  bullmq: 'BullMQ',
  bee: 'Bee-Queue',
  'jr-tls': 'job-reactor (memory, TLS)',
};

export const isJobReactor = (s: SystemId): boolean => s.startsWith('jr-');

/** What every process of one run shares. */
export interface RunConfig {
  system: SystemId;
  redisUrl: string;
  /** Queue name (peers) or key prefix (job-reactor Redis): unique per run. */
  queue: string;
  /** Jobs each worker runs at once. */
  concurrency: number;
  /** job-reactor LMDB: the store directory of this run (removed after it). */
  storeDir: string;
}

export interface WorkerConfig extends RunConfig {
  name: string;
  /** job-reactor: the distributors to dial. */
  distributors: string[];
}

export interface ProducerConfig extends RunConfig {
  name: string;
  /** BullMQ: length of the events stream (QueueEvents must not fall behind it). */
  eventsMaxLen: number;
}

/**
 * What a stamping processor returns (the no-op one returns nothing): the job's index, its
 * start on the calibrated wall clock, its due time as the system itself understands it, and
 * whether it started before that due time by the system clock (1: early).
 */
export interface Stamp {
  i: number;
  s: number;
  d: number;
  e: number;
}

/** The payload every system carries: a job index, plus `st: 1` for stamping jobs. */
export interface Payload {
  i: number;
  st?: 1;
}

export type Kind = 'noop' | 'stamp';

export interface ProducerAdapter {
  /** job-reactor: where the distributor listens (`host:port`). */
  readonly address: string | undefined;
  /** Resolves once `n` workers are connected and able to take jobs (job-reactor). */
  waitForWorkers(n: number): Promise<void>;
  /**
   * Enqueues one job as the system's single-job API does (`dueAt`: epoch ms, else now).
   * A promise when the API is asynchronous (it resolves when the job is stored).
   */
  add(i: number, kind: Kind, dueAt?: number): Promise<unknown> | undefined;
  /**
   * Enqueues `count` no-op jobs from index `from` with the system's bulk API, in chunks of
   * 1,000, due at `dueAt` (epoch ms) or instant when it is undefined; resolves once all are
   * stored (job-reactor: accepted by a node).
   */
  addMany(from: number, count: number, dueAt?: number): Promise<void>;
  /**
   * One call of the system's bulk API: `count` instant no-op jobs from index `from`, with
   * completion feedback like `add` (the throughput scenario's bulk rows). A promise when the
   * API is asynchronous (it resolves when the jobs are stored).
   */
  addBulk(from: number, count: number): Promise<unknown> | undefined;
  /** Completion feedback as the producer sees it: the job index (-1 when unknown), its stamp, when seen. */
  onDone(cb: (i: number, stamp: Stamp | undefined, seenAt: number) => void): void;
  close(): Promise<void>;
}

export interface WorkerAdapter {
  close(): Promise<void>;
}
