import { InvalidArgumentError } from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { parseDuration } from '../model/duration.ts';
import { assertKnownOptions, wholeNumberOption, type OptionKeys } from '../model/known-options.ts';
import { silentLogger, type Logger } from '../model/logger.ts';
import type { JobStorage } from '../storage/job-storage.ts';
import type { LmdbSync } from '../storage/lmdb-storage.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import type { JobRegistry } from './definitions/job-registry.ts';
import type { KeepOptions } from './lifecycle/kept-jobs.ts';
import { assertRegistry, type MetricsRegistry } from '../metrics/registry.ts';
import type { RateLimit } from '../scheduling/rate-limiter.ts';
import {
  resolveTracing,
  type ResolvedTracing,
  type TracingOption,
} from '../tracing/tracing-options.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/codec.ts';
import { validateMaxAttempt, validateRetryMultiplier } from '../scheduling/retry.ts';
import { assertNodeName } from '../model/names.ts';

/** A distributor address: `'host:port'` or an object. */
export type DistributorAddress = string | { host: string; port: number };

export interface NodeOptions {
  /** Unique name of this node; jobs are pinned with `node` / kept away with `notNode` by it. */
  name: string;
  /** Distributors to dial (the node connects to each and reconnects with backoff). */
  distributors: readonly DistributorAddress[];
  /**
   * `'memory'`, a `redis://` / `rediss://` URL or `'lmdb:<directory>'` (jobs survive a
   * crash of the node), a Redis Cluster's `redis+cluster://host:port,host:port`, or a
   * JobStorage instance. @default 'memory'
   */
  storage?: string | JobStorage;
  /** Key prefix when `storage` is a Redis URL. @default 'jr' */
  redisPrefix?: string;
  /**
   * When `storage` is a Redis URL: how long the node's start waits for Redis, ms. A Redis
   * that refuses connections or is still loading its data (starting, restarting) is tried
   * again until then; a wrong password fails at once. @default 5000
   */
  redisConnectTimeoutMs?: number;
  /**
   * When `storage` is `'lmdb:…'`: `'flush'` resolves each write once it is on the disk
   * (survives power loss), `'commit'` once it is in the OS page cache (survives a crash of
   * the node, not of the machine; faster). See LmdbSync. @default 'flush'
   */
  lmdbSync?: LmdbSync;
  /** Folder of job files, loaded recursively (`.ts` and `.js`). */
  jobDirectory?: string;
  /** Registry to take job definitions from. @default the default registry (`job()`) */
  registry?: JobRegistry;
  /** Jobs run at once on the event loop. @default 64 */
  concurrency?: number;
  /**
   * Instant jobs taken ahead of free run slots, from each distributor: the node asks for
   * `concurrency + prefetch` at a time, so a slot that frees has its next job here already
   * instead of a round trip away. Prefetched jobs wait in the ready queue (in arrival
   * order); a node that dies with them has them re-sent, not counted as crashes. Larger
   * windows mean fewer, larger frames (measured on loopback, concurrency 50: 100 → 84k,
   * 1,000 → 99k, 2,000 → 108k jobs/s); `prefetchBytes` bounds the memory. 0 turns prefetch
   * off. @default 2000
   */
  prefetch?: number;
  /**
   * Bytes of instant jobs (as encoded) a distributor may have sent here and not yet seen
   * start, so prefetching large jobs stays within memory (one job always fits, however
   * large). @default 4 MiB
   */
  prefetchBytes?: number;
  /**
   * At most `max` job starts in any `duration` ms on this node (a sliding window), every
   * job kind and distributor counted: the rest wait in the ready queue, in order, for the
   * window to allow them (one timer, no polling); delayed jobs that fall due wait their
   * turn the same way. `max` 1 to 1,000,000; `duration` ms. @default no limit
   */
  limiter?: RateLimit;
  /** Worker threads for `defer: true` jobs (they load `jobDirectory`). @default cores − 1, at least 1 */
  threads?: number;
  /** Shared secret for the distributors' handshake. */
  secret?: string;
  /**
   * Dial every distributor over TLS: `ca` (PEM) verifies their certificates (default:
   * Node's bundled root CAs) against `servername` (default: the host dialled); `cert` and
   * `key` present this node's certificate to a distributor that requires one (mutual
   * TLS). See {@link TlsOptions}. @default plain TCP
   */
  tls?: TlsOptions;
  /** Attempts before a job fails for good (per-job `maxAttempt` wins), 1 to 10,000. @default 10 */
  maxAttempt?: number;
  /** JobReactor's retry rule: wait attempt × retryMultiplier seconds (0 to 86,400). @default 5 */
  retryMultiplier?: number;
  /** Add `jobItself` (a snapshot of the job) to the args the chain sees. @default false */
  mergeJobItselfToArgs?: boolean;
  /** Delete completed jobs from storage (else keep them with status `complete`). @default true */
  removeDoneJobs?: boolean;
  /** Delete cancelled jobs from storage. @default true */
  removeCancelledJobs?: boolean;
  /** Delete failed jobs from storage. @default false */
  removeFailedJobs?: boolean;
  /**
   * Retention of the finished jobs this node keeps (complete ones when `removeDoneJobs` is
   * false, failed ones unless `removeFailedJobs`): at most `count` of each, none older
   * than `age` (seconds, or `'7d'`); the oldest go first. Enforced from an index the node
   * keeps (no storage scan). @default `{ complete: { count: 10000 }, failed: { count: 10000 } }`
   */
  keep?: KeepOptions;
  /** Resume the jobs a durable storage holds when the node starts. @default true */
  retryJobsAtStart?: boolean;
  /**
   * Lease TTL on the node's name when `storage` is a Redis URL, ms (renewed every third of
   * it). A second live node with this name fails to start; this node's jobs are adopted
   * by a live peer this long after it died; a node that could not renew for this long
   * starts no job until it can. With `'lmdb:…'`, only for a holder whose process cannot
   * be checked (another host or container sharing the directory). @default 10000
   */
  leaseTtlMs?: number;
  /**
   * Durable storage: a job that was running when its node died this many times is
   * quarantined (a final PoisonJobError feedback) instead of run again. @default 3
   */
  maxDeliveries?: number;
  /** Largest frame accepted or sent, bytes. @default 8 MiB */
  maxFrameSize?: number;
  /** Heartbeat interval, ms; a silent distributor is dropped after 3. @default 1000 */
  heartbeatMs?: number;
  /**
   * A memory-storage node's lease on a distributor's jobs, ms: when nothing has been heard
   * on that link for longer, the node starts none of that distributor's jobs until the
   * distributor confirms which are still its own (it re-sends a silent node's jobs
   * elsewhere after 3 of its heartbeats). Keep it below 3 × the distributor's heartbeat.
   * @default 2 × heartbeatMs
   */
  linkLeaseMs?: number;
  /** Handshake deadline, ms. @default 2000 */
  handshakeTimeoutMs?: number;
  /**
   * A job step whose synchronous part holds the event loop longer than this, ms, is logged
   * at warn level and emitted as `job:blocked`: meanwhile the node answered no heartbeat and
   * ran no timer (CPU-bound work belongs in `defer: true`). 0 turns the check off.
   * @default 1000
   */
  blockWarnMs?: number;
  /**
   * Unacknowledged feedbacks one distributor may have. At this many the node takes no more
   * jobs from it (`status { accepting: false }` to it alone, no credit back, new jobs
   * rejected) until its acknowledgements bring it under half; nothing is dropped. Keeps a
   * distributor that never acknowledges from growing the node's outbox without bound.
   * @default 10000
   */
  maxPendingFeedbacks?: number;
  /**
   * How long the feedbacks owed to a distributor that is not connected are kept, counted
   * from when it was last connected: seconds, a duration like `'7d'`, or `Infinity` (for
   * ever). Then they are dropped, logged at warn level with their count, emitted as
   * `feedbacks:expired` and counted (`jobreactor_node_feedbacks_expired_total`). A
   * distributor comes back for its feedbacks only with the same `id`; one started with a
   * random id (the default) never does, and without a limit a durable storage would keep
   * up to `maxPendingFeedbacks` of them for every such restart. Connected distributors
   * never lose a feedback. @default '7d'
   */
  feedbackMaxAge?: number | string;
  /**
   * Start paused (as after `pause()`): stored jobs are resumed onto their timers, and
   * nothing starts until `resume()`. @default false
   */
  paused?: boolean;
  /**
   * A prom-client `Registry` the node registers its metrics in (`jobreactor_node_*`:
   * attempts by outcome, run time and start lateness, storage errors; labels job name and
   * node only). prom-client is an optional peer dependency: the library itself never loads it.
   * @default off
   */
  metrics?: MetricsRegistry;
  /**
   * OpenTelemetry traces: a `process <job name>` span (CONSUMER) per attempt, retries and
   * each run of a period or cron job included, continuing the trace its distributor's
   * enqueue carried in the job (parent and link); the job's steps run inside it, so their
   * own spans nest under it. `true` uses the global tracer provider and propagator (the
   * CLI's `--tracing`, with an SDK registered by `node --import ./otel-setup.js`),
   * `{ tracerProvider, propagator }` chooses them. `@opentelemetry/api` is an optional
   * peer dependency, loaded only when this is on (a missing one fails `start()` naming
   * it). See docs/operating.md.
   * @default false
   */
  tracing?: TracingOption;
  clock?: Clock;
  /** pino-compatible logger. @default silent */
  logger?: Logger;
}

export const NODE_DEFAULTS = {
  concurrency: 64,
  maxAttempt: 10,
  retryMultiplier: 5,
  mergeJobItselfToArgs: false,
  removeDoneJobs: true,
  removeCancelledJobs: true,
  removeFailedJobs: false,
  retryJobsAtStart: true,
  maxDeliveries: 3,
  heartbeatMs: 1000,
  /** linkLeaseMs, in heartbeats. */
  linkLeaseHeartbeats: 2,
  handshakeTimeoutMs: 2000,
  blockWarnMs: 1000,
  maxPendingFeedbacks: 10_000,
  feedbackMaxAge: '7d',
  prefetch: 2000,
  prefetchBytes: 4 * 1024 * 1024,
} as const;

const NODE_OPTION_KEYS = {
  name: true,
  distributors: true,
  storage: true,
  redisPrefix: true,
  redisConnectTimeoutMs: true,
  lmdbSync: true,
  jobDirectory: true,
  registry: true,
  concurrency: true,
  prefetch: true,
  prefetchBytes: true,
  limiter: true,
  threads: true,
  secret: true,
  tls: true,
  maxAttempt: true,
  retryMultiplier: true,
  mergeJobItselfToArgs: true,
  removeDoneJobs: true,
  removeCancelledJobs: true,
  removeFailedJobs: true,
  keep: true,
  retryJobsAtStart: true,
  leaseTtlMs: true,
  maxDeliveries: true,
  maxFrameSize: true,
  heartbeatMs: true,
  linkLeaseMs: true,
  handshakeTimeoutMs: true,
  blockWarnMs: true,
  maxPendingFeedbacks: true,
  feedbackMaxAge: true,
  paused: true,
  metrics: true,
  tracing: true,
  clock: true,
  logger: true,
} as const satisfies OptionKeys<NodeOptions>;

/** What BullMQ's and Bee-Queue's workers call otherwise. */
const NODE_PEER_HINTS = {
  connection: "use 'storage' (a redis:// URL or a JobStorage)",
  prefix: "use 'redisPrefix'",
  attempts: "use 'maxAttempt'",
  maxAttempts: "use 'maxAttempt'",
  lockDuration: "use 'leaseTtlMs' (durable nodes) or the distributor's heartbeat (memory nodes)",
  stalledInterval: "use 'leaseTtlMs': a lost node's jobs are taken over after it",
  maxStalledCount: "use 'maxDeliveries'",
  removeOnComplete: "use 'removeDoneJobs' (true/false) and 'keep.complete' ({ count, age })",
  removeOnFail: "use 'removeFailedJobs' (true/false) and 'keep.failed' ({ count, age })",
  autorun: 'a node runs once started (startNode); stop it with stop()',
  redis: "use 'storage' (a redis:// URL)",
} as const;

/** Throws InvalidArgumentError for a key that is not a node option (see assertKnownOptions). */
export function assertNodeOptions(options: NodeOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('node options must be an object');
  }
  assertKnownOptions(options, NODE_OPTION_KEYS, 'node', NODE_PEER_HINTS);
}

/** `'host:port'` (IPv6 in brackets) or `{ host, port }` → `{ host, port }`; bad input throws InvalidArgumentError. */
export function parseAddress(a: DistributorAddress): { host: string; port: number } {
  if (typeof a !== 'string') return a;
  const i = a.lastIndexOf(':');
  const port = Number(a.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidArgumentError(
      `distributor address must be host:port (got ${JSON.stringify(a)})`,
    );
  }
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/** The node's own lifecycle rules (a job's definition and its enqueue options win over them). */
export interface NodeRules {
  maxAttempt: number;
  retryMultiplier: number;
  removeDoneJobs: boolean;
  removeCancelledJobs: boolean;
  removeFailedJobs: boolean;
}

/**
 * {@link NodeOptions} checked and complete: every default filled in from NODE_DEFAULTS (the
 * one place they live), every number in range. The node and its parts read only this.
 */
export interface ResolvedNodeOptions {
  name: string;
  distributors: { host: string; port: number }[];
  storage: string | JobStorage;
  redisPrefix: string | undefined;
  redisConnectTimeoutMs: number | undefined;
  lmdbSync: LmdbSync | undefined;
  leaseTtlMs: number | undefined;
  jobDirectory: string | undefined;
  registry: JobRegistry | undefined;
  concurrency: number;
  prefetch: number;
  prefetchBytes: number;
  /** Instant jobs each distributor may have outstanding here: run slots + prefetch. */
  window: number;
  limiter: RateLimit | undefined;
  threads: number | undefined;
  secret: string | undefined;
  tls: TlsOptions | undefined;
  rules: NodeRules;
  mergeJobItselfToArgs: boolean;
  keep: KeepOptions | undefined;
  retryJobsAtStart: boolean;
  maxDeliveries: number;
  maxFrameSize: number;
  heartbeatMs: number;
  linkLeaseMs: number;
  handshakeTimeoutMs: number;
  blockWarnMs: number;
  maxPendingFeedbacks: number;
  /** `feedbackMaxAge` in ms (Infinity: kept for ever). */
  feedbackMaxAgeMs: number;
  paused: boolean;
  metrics: MetricsRegistry | undefined;
  tracing: ResolvedTracing | undefined;
  clock: Clock;
  /** Whether the caller passed its own clock (the storage then runs on it too). */
  ownClock: boolean;
  logger: Logger;
}

/**
 * Checks `options` once and fills in every default. Throws InvalidArgumentError naming
 * the first bad option (an unknown key, a count out of range, a wrong type).
 */
export function resolveNodeOptions(options: NodeOptions): ResolvedNodeOptions {
  assertNodeOptions(options);
  assertNodeName(options.name);
  if (!Array.isArray(options.distributors)) {
    throw new InvalidArgumentError('distributors must be a list of host:port addresses');
  }
  if (options.metrics !== undefined) assertRegistry(options.metrics, 'metrics');
  if (options.paused !== undefined && typeof options.paused !== 'boolean') {
    throw new InvalidArgumentError('paused must be a boolean');
  }
  const d = NODE_DEFAULTS;
  const concurrency = wholeNumberOption('concurrency', options.concurrency ?? d.concurrency, 1);
  const prefetch = wholeNumberOption('prefetch', options.prefetch ?? d.prefetch, 0);
  const heartbeatMs = options.heartbeatMs ?? d.heartbeatMs;
  const linkLeaseMs = options.linkLeaseMs ?? d.linkLeaseHeartbeats * heartbeatMs;
  if (!Number.isFinite(linkLeaseMs) || linkLeaseMs <= 0) {
    throw new InvalidArgumentError(`linkLeaseMs must be a number > 0 (got ${linkLeaseMs})`);
  }
  const blockWarnMs = options.blockWarnMs ?? d.blockWarnMs;
  if (typeof blockWarnMs !== 'number' || !(blockWarnMs >= 0)) {
    throw new InvalidArgumentError(`blockWarnMs must be a number of ms ≥ 0 (got ${blockWarnMs})`);
  }
  return {
    name: options.name,
    distributors: options.distributors.map(parseAddress),
    storage: options.storage ?? 'memory',
    redisPrefix: options.redisPrefix,
    redisConnectTimeoutMs: options.redisConnectTimeoutMs,
    lmdbSync: options.lmdbSync,
    leaseTtlMs: options.leaseTtlMs,
    jobDirectory: options.jobDirectory,
    registry: options.registry,
    concurrency,
    prefetch,
    prefetchBytes: wholeNumberOption('prefetchBytes', options.prefetchBytes ?? d.prefetchBytes, 1),
    window: concurrency + prefetch,
    limiter: options.limiter,
    threads: options.threads,
    secret: options.secret,
    tls: options.tls,
    rules: {
      maxAttempt: validateMaxAttempt(options.maxAttempt ?? d.maxAttempt),
      retryMultiplier: validateRetryMultiplier(options.retryMultiplier ?? d.retryMultiplier),
      removeDoneJobs: options.removeDoneJobs ?? d.removeDoneJobs,
      removeCancelledJobs: options.removeCancelledJobs ?? d.removeCancelledJobs,
      removeFailedJobs: options.removeFailedJobs ?? d.removeFailedJobs,
    },
    mergeJobItselfToArgs: options.mergeJobItselfToArgs ?? d.mergeJobItselfToArgs,
    keep: options.keep,
    retryJobsAtStart: options.retryJobsAtStart ?? d.retryJobsAtStart,
    maxDeliveries: wholeNumberOption('maxDeliveries', options.maxDeliveries ?? d.maxDeliveries, 1),
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    heartbeatMs,
    linkLeaseMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
    blockWarnMs,
    maxPendingFeedbacks: wholeNumberOption(
      'maxPendingFeedbacks',
      options.maxPendingFeedbacks ?? d.maxPendingFeedbacks,
      1,
    ),
    feedbackMaxAgeMs: feedbackMaxAgeMs(options.feedbackMaxAge ?? d.feedbackMaxAge),
    paused: options.paused ?? false,
    metrics: options.metrics,
    tracing: resolveTracing(options.tracing),
    clock: options.clock ?? systemClock,
    ownClock: options.clock !== undefined,
    logger: options.logger ?? silentLogger,
  };
}

function feedbackMaxAgeMs(value: number | string): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  const ms = parseDuration(value, 'feedbackMaxAge');
  if (ms <= 0) throw new InvalidArgumentError('feedbackMaxAge must be longer than 0');
  return ms;
}
