import { CancelJob } from '../../errors.ts';
import type { JobArgs, JobRecord, JobStatus } from '../../model/job.ts';
import { assertProgress, type ProgressValue } from '../../protocol/progress.ts';

/** Where an attempt's progress reports go (one per node, not per job): the job's id and the value. */
export type ProgressSink = (jobId: string, value: ProgressValue) => void;

/**
 * The logging subset a job sees: pino-compatible, so a pino logger (or a child of one)
 * can be passed as is. `obj` carries structured fields; `msg` the text.
 */
export interface JobLogger {
  debug(objOrMsg: object | string, msg?: string): void;
  info(objOrMsg: object | string, msg?: string): void;
  warn(objOrMsg: object | string, msg?: string): void;
  error(objOrMsg: object | string, msg?: string): void;
}

/** A logger that drops everything; the default when none is given. */
export const noopLogger: JobLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * What a job, a callback or an errback receives besides its args. Read-only facts about
 * this attempt, plus the means to stop it.
 */
export interface JobContext {
  /** The job's id (time-ordered, assigned by the distributor or the caller's idempotency key). */
  readonly id: string;
  /** The job's name, as defined with `job()`. */
  readonly name: string;
  /** This attempt's number in the current cycle, 1-based. */
  readonly attempt: number;
  /** Name of the node running the job. */
  readonly node: string;
  /** Id of the distributor that enqueued the job. */
  readonly distributor: string;
  /** The job's status when the attempt started (normally `in progress`). */
  readonly status: JobStatus;
  readonly enqueuedAt: Date;
  /** When this attempt started. */
  readonly startedAt: Date;
  /** When this run (or retry) was due; the attempt may start a little later. */
  readonly runAt: Date;
  /** Fixed-rate period of a periodic job, ms. */
  readonly period?: number;
  /** Cron expression of a cron job. */
  readonly cron?: string;
  /** 1 for the first dispatch; more when the distributor re-dispatched the job after a node loss. */
  readonly delivery: number;
  /**
   * Aborts when the attempt should stop: the application cancelled the job, its timeout
   * passed (reason: `TimeoutError`), or the node is shutting down. Pass it to I/O.
   */
  readonly signal: AbortSignal;
  /** Stops the job for good (periodic ones too): throws `CancelJob`. Works detached too. */
  readonly cancel: (reason?: string) => never;
  /**
   * Reports how far the job is: a number (say a percentage) or a small plain object
   * (≤ 4 KiB encoded). The application sees it as a `job:progress` event, the job's
   * `onProgress`, and in `getJob()`. Reports close together are coalesced (the latest
   * wins); the last one always arrives before the job's feedback. A value that is not a
   * finite number or plain data throws InvalidArgumentError here.
   */
  readonly progress: (value: ProgressValue) => void;
  readonly log: JobLogger;
}

/** Facts about the attempt that are not in the record. */
export interface JobContextFacts {
  node: string;
  /** Epoch ms. */
  startedAt: number;
  /**
   * The attempt's signal, or what makes it when a step first reads `ctx.signal`: an object
   * whose `signal` getter does (the runner's Phase).
   */
  signal: AbortSignal | { readonly signal: AbortSignal };
  log: JobLogger;
  /** Where `ctx.progress()` reports go. @default nowhere (checked, then dropped) */
  progress?: ProgressSink | undefined;
}

/**
 * Builds the context of one attempt from the record as saved at its start (status
 * `in progress`, `attempt` already counting this attempt, `dueAt` this run's due time).
 * The context is frozen: steps cannot change what later steps see.
 */
export function createJobContext(record: JobRecord, facts: JobContextFacts): JobContext {
  return Object.freeze(new AttemptContext(record, facts));
}

/**
 * One attempt's context. Own data properties in one fixed order (one object shape for
 * every job); what most jobs never read is made on first read, by getters on the
 * prototype: the attempt's AbortSignal, the three Dates and the `cancel` and `progress`
 * functions (cached in private fields, which a frozen object still lets it set). So a job
 * that reads none of them costs one object, not six.
 */
class AttemptContext implements JobContext {
  readonly id: string;
  readonly name: string;
  readonly attempt: number;
  readonly node: string;
  readonly distributor: string;
  readonly status: JobStatus;
  declare readonly period?: number;
  declare readonly cron?: string;
  readonly delivery: number;
  readonly log: JobLogger;
  readonly #record: JobRecord;
  readonly #startedAt: number;
  readonly #signal: JobContextFacts['signal'];
  readonly #progress: ProgressSink | undefined;
  #enqueuedAtDate: Date | undefined;
  #startedAtDate: Date | undefined;
  #runAtDate: Date | undefined;
  #cancel: ((reason?: string) => never) | undefined;
  #report: ((value: ProgressValue) => void) | undefined;

  constructor(record: JobRecord, facts: JobContextFacts) {
    this.id = record.id;
    this.name = record.name;
    this.attempt = record.attempt;
    this.node = facts.node;
    this.distributor = record.distributor;
    this.status = record.status;
    if (record.period !== undefined) this.period = record.period;
    if (record.cron !== undefined) this.cron = record.cron;
    this.delivery = record.delivery;
    this.log = facts.log;
    this.#record = record;
    this.#startedAt = facts.startedAt;
    this.#signal = facts.signal;
    this.#progress = facts.progress;
  }

  get enqueuedAt(): Date {
    return (this.#enqueuedAtDate ??= new Date(this.#record.enqueuedAt));
  }

  get startedAt(): Date {
    return (this.#startedAtDate ??= new Date(this.#startedAt));
  }

  get runAt(): Date {
    return (this.#runAtDate ??= new Date(this.#record.dueAt));
  }

  /** A function of this attempt, so `const { cancel } = ctx; cancel()` works too. */
  get cancel(): (reason?: string) => never {
    const record = this.#record;
    return (this.#cancel ??= (reason?: string): never => {
      throw new CancelJob(reason ?? `job ${record.name} (${record.id}) cancelled`);
    });
  }

  get signal(): AbortSignal {
    const signal = this.#signal;
    return signal instanceof AbortSignal ? signal : signal.signal;
  }

  /** A function of this attempt, made on first read: `const { progress } = ctx` works too. */
  get progress(): (value: ProgressValue) => void {
    const sink = this.#progress;
    const id = this.id;
    return (this.#report ??= (value: ProgressValue): void => {
      assertProgress(value);
      sink?.(id, value);
    });
  }
}

/**
 * The snapshot merged into args as `args.jobItself` when `mergeJobItselfToArgs` is on
 * (JobReactor's `:job_itself`). Plain data only (times in epoch ms), so it survives msgpack.
 */
export interface JobItself {
  id: string;
  name: string;
  /** A copy of the args at the start of the attempt (without any earlier `jobItself`). */
  args: JobArgs;
  attempt: number;
  status: JobStatus;
  /** When this run (or retry) was due. */
  dueAt: number;
  /** When the job's first run was due, as enqueued. */
  runAt: number;
  period?: number;
  cron?: string;
  node: string;
  distributor: string;
  enqueuedAt: number;
  /** When this attempt started. */
  startedAt: number;
  delivery: number;
}

/** Builds the `jobItself` snapshot of `record` for an attempt that started at `startedAt` (epoch ms). */
export function jobItself(record: JobRecord, startedAt: number): JobItself {
  const args = structuredClone(record.args);
  // An earlier snapshot must not nest inside this one (it would grow on every run).
  delete args.jobItself;
  return {
    id: record.id,
    name: record.name,
    args,
    attempt: record.attempt,
    status: record.status,
    dueAt: record.dueAt,
    runAt: record.runAt,
    ...(record.period === undefined ? {} : { period: record.period }),
    ...(record.cron === undefined ? {} : { cron: record.cron }),
    node: record.node,
    distributor: record.distributor,
    enqueuedAt: record.enqueuedAt,
    startedAt,
    delivery: record.delivery,
  };
}
