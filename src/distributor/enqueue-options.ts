import { InvalidArgumentError } from '../errors.ts';
import type { BackoffSpec, JobArgs, JobSpec } from '../model/job.ts';
import { assertKnownOptions, type OptionKeys } from '../model/known-options.ts';
import type { ProgressListener } from './job-handle.ts';
import { parseDuration, toEpochMs } from '../model/duration.ts';
import { assertJobName, assertNodeName } from '../model/names.ts';
import { validateBackoff } from '../scheduling/retry.ts';
import { jobSettingsProblem } from '../scheduling/job-settings.ts';
import { isRecurring } from '../scheduling/schedule.ts';

/** Options of `enqueue`. Durations are seconds (fractions allowed) or strings like `'250ms'`, `'5m'`. */
export interface EnqueueOptions {
  /** Run after this delay. @default 0 (run now) */
  after?: number | string;
  /** Run at this time (Date or epoch ms); wins over `after`. A time in the past runs at once. */
  runAt?: Date | number;
  /** Run again every period, at a fixed rate (missed slots are skipped); at least 10 ms. */
  period?: number | string;
  /** Cron expression (5 or 6 fields), instead of `period`. */
  cron?: string;
  /** IANA time zone for `cron`. @default the node's zone */
  tz?: string;
  /** Preferred node(s). Soft: another node runs the job when none of them is free, unless `strictNode`. */
  node?: string | readonly string[];
  /** Node(s) that must never run the job. */
  notNode?: string | readonly string[];
  /** Wait for one of `node` instead of falling back (JobReactor's `always_use_specified_node`). @default false */
  strictNode?: boolean;
  /** Run on the node's worker-thread pool. @default false */
  defer?: boolean;
  /** Attempts before the job fails for good, 1 to 10,000 (MAX_ATTEMPT_LIMIT). @default the node's (10) */
  maxAttempt?: number;
  /** Retry after attempt × retryMultiplier seconds, 0 to 86,400 (MAX_RETRY_MULTIPLIER). @default the node's (5) */
  retryMultiplier?: number;
  /** Retry delay rule, instead of `retryMultiplier`. */
  backoff?: BackoffSpec;
  /** Per-attempt timeout; the attempt fails with TimeoutError (and is retried). */
  timeout?: number | string;
  /** Idempotency key used as the job id: enqueueing an id that is still tracked returns the existing handle. */
  id?: string;
  /**
   * Order among waiting jobs: 1 is the highest, up to 2,097,152 (2²¹); jobs of the same
   * priority keep their enqueue order. Honoured where jobs wait: the distributor's queue
   * (no node has room) and each node's ready queue (due, no free run slot). A job without
   * a priority goes before every job with one, as in BullMQ. @default none
   */
  priority?: number;
  /** A `period` or `cron` job runs at most this many times (its last run's feedback is final). */
  limit?: number;
  /** A `period` or `cron` job runs no slot after this time (Date or epoch ms; in the future). */
  endAt?: Date | number;
  /**
   * Called with each progress value the job reports (`ctx.progress(value)`), latest first
   * when several come close together; always before the final feedback. Also the
   * distributor's `job:progress` event.
   */
  onProgress?: ProgressListener;
  /** Aborting it cancels the job (as `handle.cancel()`), wherever it is. Never sent to the node. */
  signal?: AbortSignal;
}

const ENQUEUE_OPTION_KEYS = {
  after: true,
  runAt: true,
  period: true,
  cron: true,
  tz: true,
  node: true,
  notNode: true,
  strictNode: true,
  defer: true,
  maxAttempt: true,
  retryMultiplier: true,
  backoff: true,
  timeout: true,
  id: true,
  priority: true,
  limit: true,
  endAt: true,
  onProgress: true,
  signal: true,
} as const satisfies OptionKeys<EnqueueOptions>;

/** BullMQ's and Bee-Queue's names for what job-reactor calls otherwise. */
const ENQUEUE_PEER_HINTS = {
  delay: "use 'after' (seconds, or a string like '2s'), or 'runAt' (a Date or epoch ms)",
  attempts: "use 'maxAttempt' (attempts before the job fails for good)",
  maxAttempts: "use 'maxAttempt' (attempts before the job fails for good)",
  retries: "use 'maxAttempt' (attempts in all, so retries + 1)",
  jobId: "use 'id' (an idempotency key used as the job id)",
  repeat: "use 'period' (repeat.every) or 'cron' (repeat.pattern), with 'limit' and 'endAt'",
  every: "use 'period'",
  pattern: "use 'cron'",
  delayUntil: "use 'runAt'",
  removeOnComplete: "a node option here: 'removeDoneJobs' (and 'keep' for how many)",
  removeOnFail: "a node option here: 'removeFailedJobs' (and 'keep' for how many)",
  lifo: 'not supported: jobs of one priority run in enqueue order (use priority)',
} as const;

/** Routing facts the distributor needs and the node does not. */
export interface Routing {
  readonly preferred: ReadonlySet<string> | undefined;
  readonly excluded: ReadonlySet<string> | undefined;
  readonly strict: boolean;
}

/** Any node may run the job: most jobs. One shared object rather than one per tracked job. */
export const ANY_NODE: Routing = Object.freeze({
  preferred: undefined,
  excluded: undefined,
  strict: false,
});

function nameSet(
  value: string | readonly string[] | undefined,
  what: string,
): Set<string> | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list))
    throw new InvalidArgumentError(`${what} must be a node name or a list of names`);
  for (const n of list) assertNodeName(n, what);
  return list.length === 0 ? undefined : new Set(list);
}

const ID = /^[A-Za-z0-9_.:-]{1,200}$/;

/**
 * Checks `enqueue` input and turns it into the wire spec. Every bad value throws
 * InvalidArgumentError here, in the caller's stack, before anything is sent.
 */
export function buildJobSpec(input: {
  name: string;
  args: unknown;
  options: EnqueueOptions | undefined;
  id: string;
  distributor: string;
  now: number;
}): { spec: JobSpec; routing: Routing } {
  const { name, options: o = {}, now } = input;
  assertJobName(name);
  const args = input.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new InvalidArgumentError(`args of job '${name}' must be a plain object`);
  }
  if (typeof o !== 'object' || o === null)
    throw new InvalidArgumentError('options must be an object');
  assertKnownOptions(o, ENQUEUE_OPTION_KEYS, 'enqueue', ENQUEUE_PEER_HINTS);
  let id = input.id;
  if (o.id !== undefined) {
    if (typeof o.id !== 'string' || !ID.test(o.id)) {
      throw new InvalidArgumentError(
        `id must be 1-200 characters of A-Z a-z 0-9 _ . : - (got ${JSON.stringify(o.id)})`,
      );
    }
    id = o.id;
  }
  const callerId = id !== input.id;
  let runAt = now;
  if (o.runAt !== undefined) runAt = toEpochMs(o.runAt, 'runAt');
  else if (o.after !== undefined) runAt = now + parseDuration(o.after, 'after');

  const spec: JobSpec = {
    id,
    name,
    args: args as JobArgs,
    distributor: input.distributor,
    enqueuedAt: now,
    runAt,
    delivery: 1,
  };
  // The generated id, kept as the nonce of a caller-chosen one (see JobSpec.nonce).
  if (callerId) spec.nonce = input.id;
  // Durations and times are parsed here; whether the values are in range is decided by
  // the same rules a node applies to a job off the wire (jobSettingsProblem, below).
  if (o.period !== undefined) spec.period = parseDuration(o.period, 'period');
  if (o.cron !== undefined) spec.cron = o.cron;
  if (o.tz !== undefined) spec.tz = o.tz;
  if (o.maxAttempt !== undefined) spec.maxAttempt = o.maxAttempt;
  if (o.retryMultiplier !== undefined) spec.retryMultiplier = o.retryMultiplier;
  if (o.backoff !== undefined) spec.backoff = validateBackoff(o.backoff);
  if (o.timeout !== undefined) spec.timeout = parseDuration(o.timeout, 'timeout');
  if (o.priority !== undefined) spec.priority = o.priority;
  if (o.limit !== undefined) spec.limit = o.limit;
  if (o.endAt !== undefined) {
    spec.endAt = toEpochMs(o.endAt, 'endAt');
    if (spec.endAt <= now) {
      throw new InvalidArgumentError(
        `endAt must be in the future (got ${new Date(spec.endAt).toISOString()})`,
      );
    }
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new InvalidArgumentError('onProgress must be a function');
  }
  const problem = jobSettingsProblem(spec);
  if (problem !== undefined) throw new InvalidArgumentError(problem.message);
  if (o.defer !== undefined) {
    if (typeof o.defer !== 'boolean') throw new InvalidArgumentError('defer must be a boolean');
    if (o.defer) spec.defer = true;
  }
  const preferred = nameSet(o.node, 'node');
  const excluded = nameSet(o.notNode, 'notNode');
  const strict = o.strictNode === true;
  if (strict && !preferred) throw new InvalidArgumentError('strictNode needs a node');
  if (strict) spec.pinned = true;
  const routing = preferred || excluded ? { preferred, excluded, strict } : ANY_NODE;
  return { spec, routing };
}

/**
 * The name of `job`: a string, or a job reference (`job()`'s result, or `{ name }`). Any
 * other value is named as given in the error (`enqueue(42)` says 42, not undefined).
 */
export function jobNameOf(job: unknown): string {
  if (typeof job === 'string') return job;
  if (
    typeof job === 'object' &&
    job !== null &&
    typeof (job as { name?: unknown }).name === 'string'
  ) {
    return (job as { name: string }).name;
  }
  let shown: string;
  try {
    shown = typeof job === 'function' ? `a function` : (JSON.stringify(job) ?? String(job));
  } catch {
    shown = String(job);
  }
  throw new InvalidArgumentError(
    `a job is named by a string or a job reference ({ name }) (got ${shown.slice(0, 80)})`,
  );
}

/** Throws InvalidArgumentError unless `item` is an `enqueueMany` item `{ job, args?, options? }`. */
export function assertManyItem(item: unknown): void {
  if (typeof item !== 'object' || item === null) {
    throw new InvalidArgumentError('each job of enqueueMany is { job, args?, options? }');
  }
  assertKnownOptions(item, MANY_ITEM_KEYS, 'enqueueMany item', MANY_ITEM_HINTS);
}

const MANY_ITEM_KEYS = { job: true, args: true, options: true } as const;
/** BullMQ's addBulk items are `{ name, data, opts }`. */
const MANY_ITEM_HINTS = {
  name: "use 'job' (a job name or reference)",
  data: "use 'args'",
  opts: "use 'options'",
} as const;

/** True when the job takes a run slot as soon as it arrives (so it needs a node's credit). */
export function isInstant(spec: JobSpec, now: number): boolean {
  return !isRecurring(spec) && spec.runAt <= now;
}
