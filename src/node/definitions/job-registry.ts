import type { ErrorInfo } from '../../errors.ts';
import { DuplicateJobError, InvalidArgumentError, UnknownJobError } from '../../errors.ts';
import { parseDuration } from '../../model/duration.ts';
import type { JobArgs } from '../../model/job.ts';
import { assertJobName } from '../../model/names.ts';
import { MAX_ATTEMPT_LIMIT } from '../../scheduling/job-settings.ts';
import type { JobContext } from '../running/job-context.ts';

/**
 * A job's body. Sync or async. It may mutate `args`; if it returns (or resolves to) a
 * plain object, that object is merged into `args`. Later steps see both.
 */
export type JobHandler<A extends object = JobArgs> = (args: A, ctx: JobContext) => unknown;

/** A callback or errback: same shape and merge rule as a job handler. */
export type ChainStep<A extends object = JobArgs> = (args: A, ctx: JobContext) => unknown;

/** What errbacks find in args besides the job's own fields. */
export interface ErrbackArgs {
  /** The error that failed the attempt. */
  error: ErrorInfo;
  /** Set when an earlier errback of the same attempt threw (the remaining ones were skipped). */
  errbackError?: ErrorInfo;
}

/** The definition's options once checked: the timeout in ms. */
export interface ResolvedJobOptions {
  timeoutMs?: number;
  maxAttempt?: number;
  backoff?: (attempt: number, error: ErrorInfo | undefined) => number;
}

/** Defaults for every run of a job; per-job enqueue options override them. */
export interface JobDefinitionOptions {
  /**
   * Per-attempt timeout: seconds (fractions allowed) or a string like `'500ms'`, `'2m'` —
   * the same units as `enqueue`'s. When it passes, `ctx.signal` aborts with a
   * `TimeoutError` and the attempt fails (and is retried like any failure). A job's
   * enqueue option `timeout` wins.
   * @default undefined (no timeout)
   */
  timeout?: number | string;
  /**
   * Attempts before the job fails for good.
   * @default undefined (the node's `maxAttempt`, 10 as in JobReactor)
   */
  maxAttempt?: number;
  /**
   * Delay before the next attempt, ms, given the attempt that just failed (1-based) and
   * its error (undefined only when the node reschedules a retry whose error it did not
   * keep). Node-side only: code never crosses the wire.
   * @default undefined (the job's backoff spec, else `attempt × retryMultiplier` seconds)
   */
  backoff?: (attempt: number, error: ErrorInfo | undefined) => number;
}

/** A named callback or errback. */
export interface NamedStep {
  /** Descriptive only (logs); `'noname'` when none was given. */
  readonly name: string;
  readonly fn: ChainStep;
}

/** A job as the registry holds it. Callbacks and errbacks run in definition order. */
export interface JobDefinition {
  readonly name: string;
  readonly handler: JobHandler;
  readonly options: Readonly<ResolvedJobOptions>;
  readonly callbacks: readonly NamedStep[];
  readonly errbacks: readonly NamedStep[];
}

/** A typed reference to a defined job: `enqueue(ref, args)` checks `args` at compile time. */
export interface JobRef<A extends object = JobArgs> {
  readonly name: string;
  /** Phantom: carries the args type for the compiler; never set at run time. */
  readonly __args?: A;
}

/**
 * A typed reference by name, for an application that enqueues a job without importing the
 * job file that defines it (the file runs on the nodes, and may pull in what only they
 * have). `enqueue(jobRef<ResizeArgs>('images.resize'), args)` checks `args` as `job()`'s
 * reference would. Share the args type, not the code.
 *
 * ```ts
 * export interface ResizeArgs { url: string; width: number }
 * export const resize = jobRef<ResizeArgs>('images.resize');
 * ```
 */
export function jobRef<A extends object = JobArgs>(name: string): JobRef<A> {
  assertJobName(name);
  return Object.freeze({ name });
}

interface MutableDefinition extends JobDefinition {
  readonly callbacks: NamedStep[];
  readonly errbacks: NamedStep[];
}

const DEFAULT_STEP_NAME = 'noname';

/**
 * Job definitions by name. Unlike JobReactor, defining a name twice is an error
 * (JobReactor silently replaced the job and dropped its callbacks, W27).
 */
export class JobRegistry {
  // A Map, so no name can ever reach Object.prototype.
  readonly #jobs = new Map<string, MutableDefinition>();
  readonly #listeners = new Set<(name: string) => void>();

  /**
   * Calls `listener` after each new definition (a node tells its distributors the jobs it
   * can run). Returns a function that removes the listener.
   */
  onDefine(listener: (name: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Defines job `name`.
   * @throws InvalidArgumentError for a bad name, handler or option.
   * @throws DuplicateJobError when `name` is already defined in this registry.
   */
  define<A extends object = JobArgs>(
    name: string,
    handler: JobHandler<A>,
    options: JobDefinitionOptions = {},
  ): JobRef<A> {
    assertJobName(name);
    assertFunction(handler, `handler of job ${name}`);
    const checked = checkOptions(name, options);
    if (this.#jobs.has(name)) throw new DuplicateJobError(`job ${name} is already defined`);
    this.#jobs.set(name, {
      name,
      handler: handler as JobHandler,
      options: checked,
      callbacks: [],
      errbacks: [],
    });
    for (const listener of this.#listeners) listener(name);
    return Object.freeze({ name });
  }

  /**
   * Appends a callback to job `job`: it runs after the job (and earlier callbacks)
   * succeeded, with the same args.
   * @throws UnknownJobError when the job is not defined (yet).
   */
  callback<A extends object = JobArgs>(job: string | JobRef<A>, fn: ChainStep<A>): void;
  callback<A extends object = JobArgs>(
    job: string | JobRef<A>,
    name: string,
    fn: ChainStep<A>,
  ): void;
  callback(job: string | JobRef, nameOrFn: string | ChainStep, fn?: ChainStep): void {
    this.#addStep('callbacks', job, nameOrFn, fn);
  }

  /**
   * Appends an errback to job `job`: errbacks run in order when the job or a callback
   * threw, with the same args plus `args.error`.
   * @throws UnknownJobError when the job is not defined (yet).
   */
  errback<A extends object = JobArgs>(
    job: string | JobRef<A>,
    fn: ChainStep<A & ErrbackArgs>,
  ): void;
  errback<A extends object = JobArgs>(
    job: string | JobRef<A>,
    name: string,
    fn: ChainStep<A & ErrbackArgs>,
  ): void;
  errback(job: string | JobRef, nameOrFn: string | ChainStep, fn?: ChainStep): void {
    this.#addStep('errbacks', job, nameOrFn, fn);
  }

  get(name: string): JobDefinition | undefined {
    return this.#jobs.get(name);
  }

  has(name: string): boolean {
    return this.#jobs.has(name);
  }

  /** Defined job names, in definition order. */
  names(): string[] {
    return [...this.#jobs.keys()];
  }

  #addStep(
    kind: 'callbacks' | 'errbacks',
    job: string | JobRef,
    nameOrFn: string | ChainStep,
    fn: ChainStep | undefined,
  ): void {
    const jobName = typeof job === 'string' ? job : (job as Partial<JobRef> | null)?.name;
    const what = kind === 'callbacks' ? 'callback' : 'errback';
    if (typeof jobName !== 'string') {
      throw new InvalidArgumentError(`${what}: expected a job name or a job reference`);
    }
    const def = this.#jobs.get(jobName);
    if (def === undefined) {
      throw new UnknownJobError(
        `${what} for job ${jobName}, which is not defined: define it first`,
      );
    }
    let stepName = DEFAULT_STEP_NAME;
    let step: unknown = nameOrFn;
    if (typeof nameOrFn === 'string') {
      stepName = nameOrFn === '' ? DEFAULT_STEP_NAME : nameOrFn;
      step = fn;
    }
    assertFunction(step, `${what} ${stepName} of job ${jobName}`);
    def[kind].push({ name: stepName, fn: step as ChainStep });
  }
}

function assertFunction(
  value: unknown,
  what: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') {
    throw new InvalidArgumentError(`${what} must be a function (got ${typeof value})`);
  }
}

function checkOptions(job: string, options: JobDefinitionOptions): Readonly<ResolvedJobOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options of job ${job} must be an object`);
  }
  const { timeout, maxAttempt, backoff } = options;
  const timeoutMs =
    timeout === undefined ? undefined : parseDuration(timeout, `timeout of job ${job}`);
  if (timeoutMs !== undefined && timeoutMs <= 0) {
    throw new InvalidArgumentError(`timeout of job ${job} must be greater than 0`);
  }
  if (
    maxAttempt !== undefined &&
    !(Number.isSafeInteger(maxAttempt) && maxAttempt >= 1 && maxAttempt <= MAX_ATTEMPT_LIMIT)
  ) {
    throw new InvalidArgumentError(
      `maxAttempt of job ${job} must be a whole number from 1 to ${MAX_ATTEMPT_LIMIT}`,
    );
  }
  if (backoff !== undefined) assertFunction(backoff, `backoff of job ${job}`);
  return Object.freeze({
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(maxAttempt === undefined ? {} : { maxAttempt }),
    ...(backoff === undefined ? {} : { backoff }),
  });
}

/**
 * The registry that `job()`, `jobCallback()` and `jobErrback()` fill, and that a node uses
 * unless it is given its own. Job files loaded from the job directory register here.
 * (The one documented piece of module-level mutable state.)
 */
export const defaultRegistry = new JobRegistry();

/**
 * Every copy of job-reactor loaded in this process, with its default registry: job files
 * that import another copy (a second install in node_modules, a bundled one) define their
 * jobs in that copy's registry, which the node never reads. The node looks here after
 * loading a job directory to say so, instead of starting with no jobs in silence.
 */
interface LoadedCopy {
  readonly url: string;
  readonly registry: JobRegistry;
}
const COPIES = Symbol.for('job-reactor.copies');
const copies: LoadedCopy[] = ((globalThis as Record<symbol, unknown>)[COPIES] ??=
  []) as LoadedCopy[];
copies.push({ url: import.meta.url, registry: defaultRegistry });

/** The other copies of job-reactor in this process and how many jobs each defines. */
export function otherCopies(): { url: string; jobs: number }[] {
  return copies
    .filter((c) => c.registry !== defaultRegistry)
    .map((c) => ({ url: c.url, jobs: c.registry.names().length }));
}

/**
 * Defines a job in the default registry and returns a typed reference to it.
 *
 * @example
 * ```ts
 * import { job } from 'job-reactor';
 *
 * export const resize = job('resize', async (args: { url: string; width?: number }, ctx) => {
 *   const image = await fetchImage(args.url, { signal: ctx.signal });
 *   return { width: image.width }; // merged into args
 * }, { timeout: 30 }); // seconds, or '30s'
 * ```
 * @throws DuplicateJobError when `name` is already defined.
 */
export function job<A extends object = JobArgs>(
  name: string,
  handler: JobHandler<A>,
  options?: JobDefinitionOptions,
): JobRef<A> {
  return defaultRegistry.define(name, handler, options);
}

/**
 * Appends a callback to a job of the default registry. Callbacks run after the job, in
 * definition order, with the same args; the name is descriptive (default `'noname'`).
 *
 * @example
 * ```ts
 * jobCallback(resize, 'notify', (args, ctx) => {
 *   ctx.log.info({ width: args.width }, 'resized');
 * });
 * ```
 * @throws UnknownJobError when the job is not defined yet.
 */
export function jobCallback<A extends object = JobArgs>(
  job: string | JobRef<A>,
  fn: ChainStep<A>,
): void;
export function jobCallback<A extends object = JobArgs>(
  job: string | JobRef<A>,
  name: string,
  fn: ChainStep<A>,
): void;
export function jobCallback(job: string | JobRef, nameOrFn: string | ChainStep, fn?: ChainStep) {
  if (typeof nameOrFn === 'string') defaultRegistry.callback(job, nameOrFn, fn as ChainStep);
  else defaultRegistry.callback(job, nameOrFn);
}

/**
 * Appends an errback to a job of the default registry. When the job or a callback throws,
 * errbacks run in definition order with the same args plus `args.error`
 * (`{ name, code, message }`).
 *
 * @example
 * ```ts
 * jobErrback('resize', 'report', (args, ctx) => {
 *   ctx.log.warn({ code: args.error.code, attempt: ctx.attempt }, 'resize failed');
 *   if (args.error.code === 'JR_ERR_UNRECOVERABLE') ctx.cancel();
 * });
 * ```
 * @throws UnknownJobError when the job is not defined yet.
 */
export function jobErrback<A extends object = JobArgs>(
  job: string | JobRef<A>,
  fn: ChainStep<A & ErrbackArgs>,
): void;
export function jobErrback<A extends object = JobArgs>(
  job: string | JobRef<A>,
  name: string,
  fn: ChainStep<A & ErrbackArgs>,
): void;
export function jobErrback(job: string | JobRef, nameOrFn: string | ChainStep, fn?: ChainStep) {
  if (typeof nameOrFn === 'string') defaultRegistry.errback(job, nameOrFn, fn as ChainStep);
  else defaultRegistry.errback(job, nameOrFn);
}
