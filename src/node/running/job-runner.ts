import type { ErrorInfo } from '../../errors.ts';
import {
  CancelJob,
  ErrorCodes,
  InvalidArgumentError,
  UnrecoverableJobError,
  toErrorInfo,
} from '../../errors.ts';
import type { Clock } from '../../model/clock.ts';
import type { JobArgs, JobRecord } from '../../model/job.ts';
import { cloneArgs, isPlainObject, merge, snapshot } from './args-copy.ts';
import { Phase, type PhaseResult } from './job-runner-phase.ts';
import type { JobContext, JobLogger, ProgressSink } from './job-context.ts';
import { createJobContext, jobItself, noopLogger } from './job-context.ts';
import type { StopSignal } from './interrupter.ts';
import type { ChainStep, JobDefinition } from '../definitions/job-registry.ts';

// Moved out to keep this file to the chain runner; re-exported for existing importers.
export { ATTEMPT_ARG_KEYS, stripAttemptKeys } from './args-copy.ts';
export { Interrupter, type StopSignal } from './interrupter.ts';

/** How one attempt ended. `args` are the attempt's final args (the record's are untouched). */
export type AttemptOutcome =
  | { kind: 'success'; args: JobArgs }
  | { kind: 'error'; args: JobArgs; error: ErrorInfo; unrecoverable: boolean }
  | {
      kind: 'cancelled';
      args: JobArgs;
      /** True when an errback threw CancelJob (JobReactor then sends an error feedback). */
      inErrback: boolean;
      /** The error that failed the attempt, when the cancel happened during the errbacks. */
      error?: ErrorInfo;
    };

export interface RunAttemptOptions {
  /** Name of the node running the attempt (for the context). */
  node: string;
  clock: Clock;
  /** External stop: the application cancelled the job, or the node is shutting down. */
  signal?: StopSignal;
  /**
   * Per-attempt timeout, ms; a value that is not a positive finite number means none.
   * @default the definition's `timeout`
   */
  timeoutMs?: number;
  /**
   * Puts a `jobItself` snapshot (see `jobItself()`) into args before the job runs.
   * @default false
   */
  mergeJobItselfToArgs?: boolean;
  /** @default noopLogger */
  log?: JobLogger;
  /** Told about steps whose synchronous part held the event loop too long. @default none */
  blockWatch?: BlockWatch | undefined;
  /** Where the steps' `ctx.progress()` reports go. @default nowhere */
  progress?: ProgressSink | undefined;
}

/**
 * Watches how long the synchronous part of each step (the call, up to its return or its
 * first await) holds the event loop: two `performance.now()` per step, and a report when
 * it is over `thresholdMs`. One object per node, not per attempt.
 */
export interface BlockWatch {
  readonly thresholdMs: number;
  blocked(record: JobRecord, ms: number): void;
}

/**
 * Runs one attempt of a job's chain: the job, then its callbacks in definition order,
 * all with one args object (a structured clone of `record.args`; `record` is never
 * mutated). A step may mutate args or return a plain object, which is merged into them;
 * any other returned value is kept as `args.returnValue` (see takeReturned).
 *
 * - A throw or rejection anywhere (other than CancelJob) runs the errbacks in order with
 *   the same args plus `args.error`; an errback that throws sets `args.errbackError` and
 *   skips the remaining errbacks. `unrecoverable` is true for `UnrecoverableJobError`.
 * - CancelJob (or `ctx.cancel()`) in the job or a callback: `cancelled`, no errbacks run.
 *   In an errback: `cancelled` with `inErrback: true` and the original `error`.
 * - Timeout (`timeoutMs`, else the definition's): `ctx.signal` aborts with a TimeoutError
 *   and the attempt goes straight on to the errbacks with that error, even if the handler
 *   ignores the signal: the handler may STILL BE RUNNING in the background, so the args
 *   are snapshot at that moment, and later steps of the chain never start. Errbacks get
 *   a context of their own (unaborted signal) and the same timeout budget again; if it
 *   passes, `args.errbackError` is a TimeoutError and the attempt resolves at once.
 * - External `signal` abort: the context's signal aborts with the same reason and the
 *   attempt resolves `cancelled` at once (same caveat about a handler still running).
 *
 * Never throws or rejects, whatever the steps do. A step that never settles keeps the
 * attempt pending unless a timeout or the external signal ends it.
 */
export async function runAttempt(
  def: JobDefinition,
  record: JobRecord,
  opts: RunAttemptOptions,
): Promise<AttemptOutcome> {
  return runAttemptNow(def, record, opts);
}

/**
 * {@link runAttempt}, with the outcome itself (no promise) when every step of the chain
 * returned a plain value: the node's path for a job that runs on its event loop.
 */
export function runAttemptNow(
  def: JobDefinition,
  record: JobRecord,
  opts: RunAttemptOptions,
): AttemptOutcome | Promise<AttemptOutcome> {
  try {
    // A chain of synchronous steps completes without a single await (no promise per step).
    const outcome = attempt(def, record, opts);
    return outcome instanceof Promise ? outcome.catch((err) => runnerFailed(record, err)) : outcome;
  } catch (err) {
    return runnerFailed(record, err);
  }
}

/** Only a bug in the runner itself gets here: still reported as a failed attempt. */
function runnerFailed(record: JobRecord, err: unknown): AttemptOutcome {
  return {
    kind: 'error',
    args: snapshot(record.args),
    error: toErrorInfo(err),
    unrecoverable: false,
  };
}

function attempt(
  def: JobDefinition,
  record: JobRecord,
  opts: RunAttemptOptions,
): AttemptOutcome | Promise<AttemptOutcome> {
  const { clock, signal: external } = opts;
  const log = opts.log ?? noopLogger;
  const startedAt = clock.now();
  const timeoutMs = validTimeout(opts.timeoutMs ?? def.options.timeoutMs);

  let args: JobArgs;
  try {
    args = cloneArgs(record.args);
  } catch (err) {
    const error = new InvalidArgumentError(`args of job ${record.id} cannot be cloned`, {
      cause: err,
    });
    return { kind: 'error', args: { ...record.args }, error: error.toInfo(), unrecoverable: true };
  }
  if (opts.mergeJobItselfToArgs === true) args.jobItself = jobItself(record, startedAt);

  // The phase's signal is made only if a step asks for it (most never do).
  const contextFor = (phase: Phase): JobContext =>
    createJobContext(record, {
      node: opts.node,
      startedAt,
      signal: phase,
      log,
      progress: opts.progress,
    });

  // Job and callbacks. Snapshot the step list: a definition can gain steps meanwhile.
  const chain: ChainStep[] =
    def.callbacks.length === 0
      ? [def.handler]
      : [def.handler, ...def.callbacks.map((step) => step.fn)];
  const watch = opts.blockWatch;
  const main = runPhase(
    new Phase(clock, timeoutMs, external, record, false),
    chain,
    args,
    contextFor,
    watch,
  );
  return main instanceof Promise ? main.then(afterMain) : afterMain(main);

  function afterMain(main: PhaseResult): AttemptOutcome | Promise<AttemptOutcome> {
    if (main.type === 'done') return { kind: 'success', args };
    if (main.type === 'abort') return { kind: 'cancelled', args: snapshot(args), inErrback: false };
    if (main.type === 'threw' && isCancel(main.thrown)) {
      return { kind: 'cancelled', args, inErrback: false };
    }
    if (main.type === 'timeout') args = snapshot(args);
    const failure = main.type === 'timeout' ? main.error : main.thrown;
    const error = toErrorInfo(failure);
    const unrecoverable = isUnrecoverable(failure);
    args.error = error;

    const errbacks = def.errbacks.map((step) => step.fn);
    if (errbacks.length === 0) return { kind: 'error', args, error, unrecoverable };
    const phase = new Phase(clock, timeoutMs, external, record, true);
    const rescue = runPhase(phase, errbacks, args, contextFor, watch);
    const afterRescue = (rescue: PhaseResult): AttemptOutcome => {
      switch (rescue.type) {
        case 'done':
          return { kind: 'error', args, error, unrecoverable };
        case 'abort':
          return { kind: 'cancelled', args: snapshot(args), inErrback: false, error };
        case 'timeout': {
          const out = snapshot(args);
          out.errbackError = rescue.error.toInfo();
          return { kind: 'error', args: out, error, unrecoverable };
        }
        case 'threw':
          if (isCancel(rescue.thrown)) return { kind: 'cancelled', args, inErrback: true, error };
          args.errbackError = toErrorInfo(rescue.thrown);
          log.warn({ jobId: record.id, err: args.errbackError }, 'errback threw; skipped the rest');
          return { kind: 'error', args, error, unrecoverable };
      }
    };
    return rescue instanceof Promise ? rescue.then(afterRescue) : afterRescue(rescue);
  }
}

const DONE: PhaseResult = Object.freeze({ type: 'done' });

/**
 * Runs `steps` in order against `args` until one throws or the phase is interrupted.
 * Settles (never rejects) as soon as either happens; an interrupted step may go on in
 * the background, but nothing after it starts and its result is not merged. Synchronous
 * all the way (no promise) while every step returns a plain value.
 */
function runPhase(
  phase: Phase,
  steps: readonly ChainStep[],
  args: JobArgs,
  contextFor: (phase: Phase) => JobContext,
  watch: BlockWatch | undefined,
): PhaseResult | Promise<PhaseResult> {
  let run: PhaseResult | Promise<PhaseResult>;
  try {
    run = runSteps(phase, steps, args, contextFor(phase), 0, watch);
  } catch (err) {
    phase.dispose();
    throw err;
  }
  if (!(run instanceof Promise)) {
    phase.dispose();
    // An interruption that happened before we looked wins (e.g. a step aborted the
    // external signal synchronously and then returned).
    return phase.interruption ?? run;
  }
  const interrupted = phase.interrupted;
  const settled = interrupted === undefined ? run : Promise.race([run, interrupted]);
  return settled.then(
    (result) => {
      phase.dispose();
      return phase.interruption ?? result;
    },
    (err: unknown) => {
      phase.dispose();
      throw err;
    },
  );
}

/** Steps from `from` on; goes asynchronous at the first step that returns a thenable. */
function runSteps(
  phase: Phase,
  steps: readonly ChainStep[],
  args: JobArgs,
  ctx: JobContext,
  from: number,
  watch: BlockWatch | undefined,
): PhaseResult | Promise<PhaseResult> {
  for (let i = from; i < steps.length; i++) {
    if (phase.stopped) break;
    let returned: unknown;
    const t0 = watch === undefined ? 0 : performance.now();
    try {
      // A synchronous throw lands here like a rejection would.
      returned = steps[i]!(args, ctx);
    } catch (thrown) {
      if (watch !== undefined) checkBlocked(watch, phase.record, t0);
      return { type: 'threw', thrown };
    }
    if (watch !== undefined) checkBlocked(watch, phase.record, t0);
    if (isThenable(returned)) {
      phase.goAsync();
      return continueSteps(phase, steps, args, ctx, i, returned, watch);
    }
    if (phase.stopped) break;
    takeReturned(args, returned);
  }
  return DONE;
}

async function continueSteps(
  phase: Phase,
  steps: readonly ChainStep[],
  args: JobArgs,
  ctx: JobContext,
  at: number,
  pending: PromiseLike<unknown>,
  watch: BlockWatch | undefined,
): Promise<PhaseResult> {
  let returned: unknown;
  try {
    returned = await pending;
  } catch (thrown) {
    return { type: 'threw', thrown };
  }
  if (phase.stopped) return DONE;
  takeReturned(args, returned);
  return runSteps(phase, steps, args, ctx, at + 1, watch);
}

/**
 * What a step returned goes into args: a plain object is merged into them; any other value
 * (a string, number, boolean, array, null, a Date) becomes `args.returnValue`, so it
 * reaches the callbacks and the application instead of being dropped. `undefined`,
 * functions and symbols (nothing to send) and the args object itself change nothing.
 */
function takeReturned(args: JobArgs, returned: unknown): void {
  if (returned === undefined || returned === args) return;
  if (isPlainObject(returned)) merge(args, returned);
  else if (typeof returned !== 'function' && typeof returned !== 'symbol') {
    args.returnValue = returned;
  }
}

function checkBlocked(watch: BlockWatch, record: JobRecord, t0: number): void {
  const ms = performance.now() - t0;
  if (ms > watch.thresholdMs) watch.blocked(record, ms);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function validTimeout(ms: number | undefined): number | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

// Code checks as well as instanceof: a job file may load its own copy of the library.
function isCancel(err: unknown): boolean {
  return err instanceof CancelJob || hasCode(err, ErrorCodes.Cancel);
}

function isUnrecoverable(err: unknown): boolean {
  return err instanceof UnrecoverableJobError || hasCode(err, ErrorCodes.Unrecoverable);
}

function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code;
}
