/**
 * `defer: true`: runs attempts on a piscina worker-thread pool, so a CPU-heavy job blocks
 * a thread and not the node's event loop (JobReactor's `EM.defer`, which ran the job on
 * the reactor anyway: W16, W17). Each thread imports the node's job directory into its own
 * default registry and runs `runAttempt` there, so chain semantics are the runner's.
 *
 * What only a thread can do: when a job ignores an abort, or overruns its timeout while
 * blocking its thread, the pool waits `graceMs` and then terminates the thread. A thread
 * that dies in the job or its callbacks (terminated after the timeout, `process.exit`, an
 * uncaught exception) fails the attempt with a TimeoutError or JobThrewError, and the
 * errbacks then run in a fresh thread (a "rescue" task) with that error as `args.error`.
 * Args changed by the dead thread are lost: such outcomes carry the record's args.
 *
 * Pool lifecycle: `open` → `closing` (`close()`: new runs fail with ClosedError; running
 * ones get `closeTimeoutMs`, then are aborted) → `closed` (threads terminated). Each piscina
 * task, with its own lifecycle, is a `Task` (thread-task.ts).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Piscina } from 'piscina';
import type { ErrorInfo } from '../../errors.ts';
import {
  ClosedError,
  ErrorCodes,
  InvalidArgumentError,
  ShutdownError,
  TimeoutError,
  toErrorInfo,
} from '../../errors.ts';
import type { Clock } from '../../model/clock.ts';
import { systemClock } from '../../model/clock.ts';
import type { JobArgs, JobRecord } from '../../model/job.ts';
import type { DeferWorkerData, RescueSpec } from './defer-worker.ts';
import type { JobLogger, ProgressSink } from './job-context.ts';
import { noopLogger } from './job-context.ts';
import type { AttemptOutcome, StopSignal } from './job-runner.ts';
import { Task, within, type Ending, type TaskDeps } from './thread-task.ts';

/** True when this module runs as TypeScript (tsx, vitest): the threads then need tsx too. */
const FROM_SOURCE = /\.m?ts$/.test(new URL(import.meta.url).pathname);
/** The compiled build has `defer-worker.js` next to this file; the sources `defer-worker.ts`. */
const WORKER_ENTRY = new URL(`./defer-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url);

export interface ThreadPoolOptions {
  /** The node's job directory; every thread imports it once, at startup. */
  jobDirectory: string;
  /**
   * Most threads at once; more deferred attempts wait in the pool's queue.
   * @default max(1, os.availableParallelism() - 1)
   */
  size?: number;
  /**
   * An idle thread is terminated after this long (threads start on demand).
   * @default 30_000
   */
  idleTimeoutMs?: number;
  /**
   * How long a job may ignore an abort, or overrun its timeout, before its thread is
   * terminated. Keep it under the time the node waits for aborted jobs when it stops.
   * @default 500
   */
  graceMs?: number;
  /**
   * How long `close()` waits for running attempts before aborting them.
   * @default 10_000
   */
  closeTimeoutMs?: number;
  /**
   * Times the grace periods and the watchdog. The threads run attempts on real time, so a
   * fake clock here only suits tests that drive it.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Pool-level problems (a thread failing outside any task), and job log lines when a run
   * has no logger of its own.
   * @default noopLogger
   */
  log?: JobLogger;
}

export interface DeferRunOptions {
  /** Name of the node running the attempt (for the context). */
  node: string;
  /** External stop (application cancel, node shutdown): aborts `ctx.signal` in the thread. */
  signal?: StopSignal;
  /**
   * Per-attempt timeout, ms.
   * @default the definition's `timeout`
   */
  timeoutMs?: number;
  /** @default false */
  mergeJobItselfToArgs?: boolean;
  /**
   * Receives the job's `ctx.log` lines, forwarded from the thread.
   * @default the pool's `log`
   */
  log?: JobLogger;
  /** Receives the job's `ctx.progress()` reports, forwarded from the thread. @default none */
  progress?: ProgressSink | undefined;
}

export interface ThreadPoolStats {
  /** Threads alive now. */
  threads: number;
  /** Attempts (and rescues) submitted and not settled, queued ones included. */
  running: number;
  /** Tasks waiting for a free thread. */
  queued: number;
  /** Tasks piscina finished since the start. */
  completed: number;
  /** Share of the pool's capacity used since the start, 0..1 (piscina's measure). */
  utilization: number;
}

export const ThreadPoolState = { Open: 'open', Closing: 'closing', Closed: 'closed' } as const;
export type ThreadPoolState = (typeof ThreadPoolState)[keyof typeof ThreadPoolState];

/**
 * A worker-thread pool that runs attempts of deferred jobs. `run` never rejects: every
 * failure, a dead thread included, becomes an `AttemptOutcome`.
 */
export class ThreadPool {
  readonly #piscina: Piscina;
  readonly #deps: TaskDeps;
  readonly #closeTimeoutMs: number;
  readonly #tasks = new Set<Task>();
  readonly #runs = new Set<Promise<AttemptOutcome>>();
  #state: ThreadPoolState = ThreadPoolState.Open;
  #closing: Promise<void> | undefined;
  /** Set once close() gave up waiting: nothing new (not even a rescue) starts. */
  #forcing = false;

  constructor(opts: ThreadPoolOptions) {
    const size = opts.size ?? Math.max(1, availableParallelism() - 1);
    if (!(Number.isSafeInteger(size) && size >= 1)) {
      throw new InvalidArgumentError(`thread pool size must be an integer >= 1 (got ${size})`);
    }
    if (typeof opts.jobDirectory !== 'string' || opts.jobDirectory === '') {
      throw new InvalidArgumentError('thread pool: jobDirectory must be a non-empty path');
    }
    const log = opts.log ?? noopLogger;
    const workerData: DeferWorkerData = { jobDirectory: resolve(opts.jobDirectory) };
    this.#piscina = new Piscina({
      filename: WORKER_ENTRY.href,
      minThreads: 0,
      maxThreads: size,
      idleTimeout: opts.idleTimeoutMs ?? 30_000,
      // Plain message passing: with atomics an idle thread blocks in Atomics.wait, which
      // would freeze the timers of a job still running in the background.
      atomics: 'disabled',
      execArgv: workerExecArgv(),
      workerData,
    });
    // Without a listener, an 'error' event (a thread failing between tasks) would throw.
    this.#piscina.on('error', (err: unknown) => {
      log.error({ err: toErrorInfo(err) }, 'deferred-job thread failed outside any task');
    });
    this.#deps = {
      piscina: this.#piscina,
      clock: opts.clock ?? systemClock,
      graceMs: opts.graceMs ?? 500,
      log,
    };
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  }

  /** Most threads at once. */
  get size(): number {
    return this.#piscina.maxThreads;
  }

  get utilization(): number {
    return this.#piscina.utilization;
  }

  get stats(): ThreadPoolStats {
    return {
      threads: this.#piscina.threads.length,
      running: this.#tasks.size,
      queued: this.#piscina.queueSize,
      completed: this.#piscina.completed,
      utilization: this.#piscina.utilization,
    };
  }

  get state(): ThreadPoolState {
    return this.#state;
  }

  /**
   * Runs one attempt of `record` (chain, then errbacks on failure) in a thread, with the
   * semantics of `runAttempt`. Never rejects.
   */
  run(record: JobRecord, opts: DeferRunOptions): Promise<AttemptOutcome> {
    if (this.#state !== ThreadPoolState.Open) {
      const error = new ClosedError(`thread pool is ${this.#state}: job ${record.id} not run`);
      return Promise.resolve(failure({ ...record.args }, error.toInfo(), false));
    }
    const run = this.#attempt(record, opts);
    this.#runs.add(run);
    void run.finally(() => this.#runs.delete(run));
    return run;
  }

  /** Waits for running attempts (at most `closeTimeoutMs`, then aborts them) and ends the threads. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#setState(ThreadPoolState.Closing);
      this.#closing = this.#shutdown();
    }
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const all = Promise.allSettled([...this.#runs]);
    if (!(await within(this.#deps.clock, this.#closeTimeoutMs, all))) {
      this.#forcing = true;
      const reason = new ShutdownError('thread pool closed before the job finished');
      for (const task of this.#tasks) task.abort(reason);
      await all; // each settles within graceMs: the thread is terminated then
    }
    try {
      await this.#piscina.destroy();
    } catch (err) {
      this.#deps.log.error({ err: toErrorInfo(err) }, 'thread pool: terminating threads failed');
    }
    this.#setState(ThreadPoolState.Closed);
  }

  #setState(next: ThreadPoolState): void {
    this.#state = next;
  }

  async #attempt(record: JobRecord, opts: DeferRunOptions): Promise<AttemptOutcome> {
    let args: JobArgs;
    try {
      args = structuredClone(record.args);
    } catch (err) {
      const error = new InvalidArgumentError(`args of job ${record.id} cannot be cloned`, {
        cause: err,
      });
      return failure({ ...record.args }, error.toInfo(), true);
    }
    try {
      const first = await this.#submit(record, opts, undefined);
      if (first.type === 'done') return first.outcome;
      if (first.type === 'cancelled') return cancelled(args, first.error);
      if (first.inErrbacks) return errbacksDied(args, first.error, first.failure.toInfo());
      // Died in the chain: the errbacks still run, in a fresh thread.
      const error = first.failure.toInfo();
      if (!first.hasErrbacks || this.#forcing || opts.signal?.aborted === true) {
        return failure(args, error, false);
      }
      const kind = first.failure instanceof TimeoutError ? 'timeout' : 'crash';
      const rescue = await this.#submit(record, opts, { kind, message: error.message });
      if (rescue.type === 'done') return rescue.outcome;
      if (rescue.type === 'cancelled') return cancelled(args, error);
      return errbacksDied(args, error, rescue.failure.toInfo());
    } catch (err) {
      // Only a bug of ours gets here: still an outcome.
      return failure(args, toErrorInfo(err), false);
    }
  }

  async #submit(
    record: JobRecord,
    opts: DeferRunOptions,
    rescue: RescueSpec | undefined,
  ): Promise<Ending> {
    if (this.#forcing) return { type: 'cancelled' };
    const task = new Task(this.#deps, record, opts, rescue);
    this.#tasks.add(task);
    const { signal } = opts;
    const onAbort = (): void => task.abort(signal?.reason);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await task.run();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#tasks.delete(task);
    }
  }
}

/**
 * Node options for the threads: the parent's, plus, when running from the TypeScript
 * sources, a preload that registers tsx's ESM hooks inside the thread, so it can import
 * `defer-worker.ts`, the library and `.ts` job files. It has to be registered in the thread
 * itself: Node 20 does not apply the parent's hooks (nor `--import tsx`) to workers.
 */
function workerExecArgv(): string[] {
  if (!FROM_SOURCE) return [...process.execArgv];
  const api = import.meta.resolve('tsx/esm/api');
  const preload = `import { register } from ${JSON.stringify(api)}; register();`;
  // A parent started by `tsx` (or `node --import tsx`) passes tsx's own loader flags; in a
  // worker they would install a second loader next to ours and the job files would load
  // twice, into two registries. Keep one: ours.
  return [
    ...withoutTsxLoader(process.execArgv),
    '--import',
    `data:text/javascript,${encodeURIComponent(preload)}`,
  ];
}

function withoutTsxLoader(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const takesValue =
      arg === '--import' || arg === '--require' || arg === '--loader' || arg === '-r';
    const value = takesValue
      ? argv[i + 1]
      : arg.includes('=')
        ? arg.slice(arg.indexOf('=') + 1)
        : undefined;
    if (value !== undefined && /(^|[/\\])tsx([/\\]|$)/.test(value)) {
      if (takesValue) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

function failure(args: JobArgs, error: ErrorInfo, unrecoverable: boolean): AttemptOutcome {
  return { kind: 'error', args: { ...args, error }, error, unrecoverable };
}

function cancelled(args: JobArgs, error: ErrorInfo | undefined): AttemptOutcome {
  return error === undefined
    ? { kind: 'cancelled', args: { ...args }, inErrback: false }
    : { kind: 'cancelled', args: { ...args, error }, inErrback: false, error };
}

/** The errbacks' thread died: `errbackError` says how, as when an errback throws. */
function errbacksDied(
  args: JobArgs,
  error: ErrorInfo | undefined,
  errbackError: ErrorInfo,
): AttemptOutcome {
  // Without the original failure (cannot happen with our markers), the death is the error.
  const cause = error ?? errbackError;
  return {
    kind: 'error',
    args: { ...args, error: cause, errbackError },
    error: cause,
    unrecoverable: cause.code === ErrorCodes.Unrecoverable,
  };
}
