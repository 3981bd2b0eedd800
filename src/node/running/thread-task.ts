/**
 * One piscina task of the `defer: true` pool (see thread-pool.ts): its message port, its
 * watchdog, and the decision to terminate its thread.
 *
 * Task lifecycle (one piscina task): `queued` → `received` (a thread has it; it may still
 * be importing the job directory) → `chain` → `errbacks` → `settled`; any state can go
 * straight to `settled`.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { ErrorInfo } from '../../errors.ts';
import { JobThrewError, TimeoutError, toErrorInfo } from '../../errors.ts';
import type { Clock, TimerHandle } from '../../model/clock.ts';
import type { JobRecord } from '../../model/job.ts';
import type { DeferTask, FromWorkerMessage, RescueSpec, ToWorkerMessage } from './defer-worker.ts';
import type { JobLogger } from './job-context.ts';
import type { ProgressValue } from '../../protocol/progress.ts';
import type { AttemptOutcome } from './job-runner.ts';
import type { DeferRunOptions } from './thread-pool.ts';

export interface TaskDeps {
  piscina: Piscina;
  clock: Clock;
  graceMs: number;
  log: JobLogger;
}

/** How one piscina task ended. */
export type Ending =
  | { type: 'done'; outcome: AttemptOutcome }
  /** Aborted, and its thread terminated (or it never started). */
  | { type: 'cancelled'; error?: ErrorInfo }
  /** Its thread died (terminated after the timeout, or crashed). */
  | {
      type: 'died';
      failure: TimeoutError | JobThrewError;
      inErrbacks: boolean;
      /** False when the job is known to have no errbacks (nothing to rescue). */
      hasErrbacks: boolean;
      /** The failure that started the errbacks, when `inErrbacks`. */
      error?: ErrorInfo;
    };

const TaskState = {
  Queued: 'queued',
  Received: 'received',
  Chain: 'chain',
  Errbacks: 'errbacks',
  Settled: 'settled',
} as const;
type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** One piscina task: its port, its watchdog and the decision to terminate its thread. */
export class Task {
  readonly #deps: TaskDeps;
  readonly #record: JobRecord;
  readonly #opts: DeferRunOptions;
  readonly #rescue: RescueSpec | undefined;
  readonly #log: JobLogger;
  /** Aborting it makes piscina drop the task from its queue, or terminate its thread. */
  readonly #kill = new AbortController();
  readonly #channel = new MessageChannel();
  #state: TaskState = TaskState.Queued;
  #timer: TimerHandle | undefined;
  #timeoutMs: number | undefined;
  /** Errbacks of the job, once the thread said (before that, assume some). */
  #errbacks: number | undefined;
  #error: ErrorInfo | undefined;
  #aborting = false;
  #killedAs: Ending | undefined;

  constructor(
    deps: TaskDeps,
    record: JobRecord,
    opts: DeferRunOptions,
    rescue: RescueSpec | undefined,
  ) {
    this.#deps = deps;
    this.#record = record;
    this.#opts = opts;
    this.#rescue = rescue;
    this.#log = opts.log ?? deps.log;
  }

  async run(): Promise<Ending> {
    const port: MessagePort = this.#channel.port1;
    port.on('message', this.#onMessage);
    // The thread closes its end when the task ends; 'close' comes after its last messages.
    const drained = new Promise<void>((done) => port.once('close', done));
    const task: DeferTask = {
      record: this.#record,
      node: this.#opts.node,
      ...(this.#opts.timeoutMs === undefined ? {} : { timeoutMs: this.#opts.timeoutMs }),
      mergeJobItselfToArgs: this.#opts.mergeJobItselfToArgs ?? false,
      port: this.#channel.port2,
      ...(this.#rescue === undefined ? {} : { rescue: this.#rescue }),
    };
    try {
      const outcome = (await this.#deps.piscina.run(task, {
        transferList: [this.#channel.port2],
        signal: this.#kill.signal,
      })) as AttemptOutcome;
      // The result comes on piscina's port; log lines still in flight on ours come first.
      await within(this.#deps.clock, this.#deps.graceMs, drained);
      return { type: 'done', outcome };
    } catch (err) {
      if (this.#killedAs !== undefined) return this.#killedAs;
      if (this.#aborting) return this.#cancelled();
      const failure = new JobThrewError(
        `the worker thread running ${this.#label()} died: ${toErrorInfo(err).message}`,
      );
      return this.#died(failure);
    } finally {
      this.#setState(TaskState.Settled);
      this.#disarm();
      port.off('message', this.#onMessage);
      port.close();
    }
  }

  /** Aborts `ctx.signal` in the thread; terminates the thread if it is still busy after `graceMs`. */
  abort(reason: unknown): void {
    if (this.#state === TaskState.Settled || this.#aborting) return;
    this.#aborting = true;
    this.#disarm(); // the abort deadline replaces the timeout watchdog
    if (this.#state === TaskState.Queued) {
      this.#terminate(this.#cancelled());
      return;
    }
    const message: ToWorkerMessage = { type: 'abort', reason: toErrorInfo(reason) };
    this.#channel.port1.postMessage(message);
    this.#arm(this.#deps.graceMs, () => this.#terminate(this.#cancelled()));
  }

  readonly #onMessage = (message: FromWorkerMessage): void => {
    if (this.#state === TaskState.Settled) return;
    switch (message.type) {
      case 'received':
        this.#setState(TaskState.Received);
        break;
      case 'chain':
        this.#setState(TaskState.Chain);
        this.#timeoutMs = message.timeoutMs;
        this.#errbacks = message.errbacks;
        this.#watch();
        break;
      case 'errbacks':
        this.#setState(TaskState.Errbacks);
        this.#error = message.error;
        this.#watch(); // errbacks get the same timeout budget again
        break;
      case 'log':
        forwardLog(this.#log, message);
        break;
      case 'progress':
        // Checked in the thread by the job's context.
        this.#opts.progress?.(this.#record.id, message.value as ProgressValue);
        break;
    }
  };

  /** Arms the watchdog: the runner's own timeout plus `graceMs`, for a job blocking its thread. */
  #watch(): void {
    if (this.#aborting || this.#timeoutMs === undefined) return;
    const timeoutMs = this.#timeoutMs;
    const what =
      this.#state === TaskState.Errbacks ? `errbacks of ${this.#label()}` : this.#label();
    this.#arm(timeoutMs + this.#deps.graceMs, () => {
      const failure = new TimeoutError(
        `${what} timed out after ${timeoutMs} ms and did not yield: its worker thread was terminated`,
      );
      this.#terminate(this.#died(failure));
    });
  }

  #arm(ms: number, fn: () => void): void {
    this.#disarm();
    this.#timer = this.#deps.clock.setTimer(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#deps.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #terminate(ending: Ending): void {
    if (this.#state === TaskState.Settled || this.#killedAs !== undefined) return;
    this.#killedAs = ending;
    this.#kill.abort(ending.type);
  }

  #cancelled(): Ending {
    return this.#error === undefined
      ? { type: 'cancelled' }
      : { type: 'cancelled', error: this.#error };
  }

  #died(failure: TimeoutError | JobThrewError): Ending {
    const hasErrbacks = this.#errbacks !== 0;
    return this.#state === TaskState.Errbacks && this.#error !== undefined
      ? { type: 'died', failure, inErrbacks: true, hasErrbacks, error: this.#error }
      : { type: 'died', failure, inErrbacks: false, hasErrbacks };
  }

  #label(): string {
    return `job ${this.#record.name} (${this.#record.id})`;
  }

  #setState(next: TaskState): void {
    this.#state = next;
  }
}

/** Waits for `promise`, at most `ms`; true when it settled in time. */
export async function within(
  clock: Clock,
  ms: number,
  promise: Promise<unknown>,
): Promise<boolean> {
  let timer: TimerHandle | undefined;
  const late = new Promise<false>((done) => (timer = clock.setTimer(() => done(false), ms)));
  const inTime = await Promise.race([promise.then(() => true), late]);
  if (timer !== undefined) clock.clearTimer(timer);
  return inTime;
}

function forwardLog(log: JobLogger, message: Extract<FromWorkerMessage, { type: 'log' }>): void {
  const { level, obj, msg } = message;
  if (typeof obj === 'object' && obj !== null) log[level](obj, msg);
  else log[level](msg ?? '');
}
