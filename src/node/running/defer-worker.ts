/**
 * Worker-thread entry of the `defer: true` pool (see thread-pool.ts). Piscina imports this
 * module in each thread and calls the default export once per task. The thread imports
 * the node's job directory once, into its own default registry, and runs attempts with
 * `runAttempt` and the real clock, so a CPU-heavy job blocks this thread and not the
 * node's event loop.
 *
 * Each task brings a MessagePort of its own: the pool posts `abort` on it, and the thread
 * posts progress markers (so the pool knows which phase a thread was in if it must
 * terminate it) and the job's log lines.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import type { ErrorInfo } from '../../errors.ts';
import {
  InvalidArgumentError,
  JobThrewError,
  RemoteError,
  TimeoutError,
  UnknownJobError,
  toErrorInfo,
} from '../../errors.ts';
import { systemClock } from '../../model/clock.ts';
import type { JobArgs, JobRecord } from '../../model/job.ts';
import type { JobLogger } from './job-context.ts';
import { loadJobDirectory } from '../definitions/job-loader.ts';
import type { ChainStep, JobDefinition } from '../definitions/job-registry.ts';
import { defaultRegistry } from '../definitions/job-registry.ts';
import type { AttemptOutcome } from './job-runner.ts';
import { runAttempt } from './job-runner.ts';

/** What the pool passes as piscina's `workerData`. */
export interface DeferWorkerData {
  /** Absolute path of the job directory to import at startup. */
  jobDirectory: string;
}

/**
 * The attempt died with its thread (killed after its timeout, or crashed); a rescue task
 * runs only the errbacks, with this failure as `args.error`.
 */
export interface RescueSpec {
  kind: 'timeout' | 'crash';
  message: string;
}

/** One task: a structured clone of these fields crosses to the thread. */
export interface DeferTask {
  record: JobRecord;
  node: string;
  timeoutMs?: number;
  mergeJobItselfToArgs: boolean;
  /** Transferred; closed by the thread when the task ends. */
  port: MessagePort;
  rescue?: RescueSpec;
}

/** Pool → thread, on the task's port. */
export type ToWorkerMessage = { type: 'abort'; reason: ErrorInfo };

export type LogLevel = keyof JobLogger;

/** Thread → pool, on the task's port. */
export type FromWorkerMessage =
  /** The thread picked the task up (it may still be importing the job directory). */
  | { type: 'received' }
  /**
   * The chain starts now. `timeoutMs` is the attempt's effective timeout, if any; `errbacks`
   * how many errbacks the job has (none: no rescue is needed if the thread dies).
   */
  | { type: 'chain'; timeoutMs?: number; errbacks: number }
  /** The first errback starts now; `error` is the failure that started them. */
  | { type: 'errbacks'; error: ErrorInfo }
  | { type: 'log'; level: LogLevel; obj?: unknown; msg?: string }
  /** The job reported progress (checked here, by its context). */
  | { type: 'progress'; value: unknown };

const { jobDirectory } = workerData as DeferWorkerData;

/** Started at import, awaited by every task: the error info when the directory failed to load. */
const loaded: Promise<ErrorInfo | undefined> = loadJobDirectory(jobDirectory).then(
  () => undefined,
  (err: unknown) => toErrorInfo(err),
);

export default async function runDeferred(task: DeferTask): Promise<AttemptOutcome> {
  const { port, record } = task;
  const controller = new AbortController();
  const onMessage = (message: ToWorkerMessage): void => {
    if (message.type === 'abort') controller.abort(new RemoteError(message.reason));
  };
  port.on('message', onMessage);
  const post = (message: FromWorkerMessage): void => {
    try {
      port.postMessage(message);
    } catch {
      // A log line whose object cannot be cloned, or a port closed meanwhile: not worth a failure.
    }
  };
  post({ type: 'received' });
  try {
    const loadError = await loaded;
    if (loadError !== undefined) return failed(record, loadError, true);
    const def = defaultRegistry.get(record.name);
    if (def === undefined) {
      const error = new UnknownJobError(
        `job ${record.name} is not defined in the job directory ${jobDirectory} of the worker thread`,
      );
      return failed(record, error.toInfo(), true);
    }
    const timeoutMs = validTimeout(task.timeoutMs ?? def.options.timeoutMs);
    const errbacks = def.errbacks.length;
    post(
      timeoutMs === undefined
        ? { type: 'chain', errbacks }
        : { type: 'chain', timeoutMs, errbacks },
    );
    const outcome = await runAttempt(instrument(def, task.rescue, post), record, {
      node: task.node,
      clock: systemClock,
      signal: controller.signal,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      mergeJobItselfToArgs: task.mergeJobItselfToArgs,
      log: portLogger(post),
      progress: (_id, value) => post({ type: 'progress', value }),
    });
    return crossable(record, outcome);
  } finally {
    port.off('message', onMessage);
    port.close();
  }
}

/**
 * The definition as this task runs it: errbacks that first tell the pool the errbacks
 * started, and, for a rescue, a job that fails at once with the failure that killed the
 * previous thread (and no callbacks), so only the errbacks really run.
 */
function instrument(
  def: JobDefinition,
  rescue: RescueSpec | undefined,
  post: (message: FromWorkerMessage) => void,
): JobDefinition {
  let told = false;
  const errbacks = def.errbacks.map((step) => ({
    name: step.name,
    fn: ((args, ctx) => {
      if (!told) {
        told = true;
        post({ type: 'errbacks', error: args.error as ErrorInfo });
      }
      return step.fn(args, ctx);
    }) satisfies ChainStep,
  }));
  if (rescue === undefined) return { ...def, errbacks };
  const failure =
    rescue.kind === 'timeout'
      ? new TimeoutError(rescue.message)
      : new JobThrewError(rescue.message);
  return {
    ...def,
    handler: () => {
      throw failure;
    },
    callbacks: [],
    errbacks,
  };
}

/** Forwards the job's log lines to the pool, which hands them to the node's logger. */
function portLogger(post: (message: FromWorkerMessage) => void): JobLogger {
  const at =
    (level: LogLevel) =>
    (objOrMsg: object | string, msg?: string): void => {
      if (typeof objOrMsg === 'string') post({ type: 'log', level, msg: objOrMsg });
      else post({ type: 'log', level, obj: objOrMsg, ...(msg === undefined ? {} : { msg }) });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The outcome if it can cross to the main thread. Checked here: piscina posting an
 * uncloneable result would crash the thread and look like a crash of the job.
 */
function crossable(record: JobRecord, outcome: AttemptOutcome): AttemptOutcome {
  try {
    structuredClone(outcome);
    return outcome;
  } catch (err) {
    const error = new InvalidArgumentError(
      `the final args of job ${record.name} (${record.id}) cannot cross back from the worker thread: ${toErrorInfo(err).message}`,
    );
    return failed(record, error.toInfo(), true);
  }
}

function failed(record: JobRecord, error: ErrorInfo, unrecoverable: boolean): AttemptOutcome {
  const args: JobArgs = { ...record.args, error };
  return { kind: 'error', args, error, unrecoverable };
}

function validTimeout(ms: number | undefined): number | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
