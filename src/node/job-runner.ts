import type { ErrorInfo } from '../errors.ts';
import {
  CancelJob,
  ErrorCodes,
  InvalidArgumentError,
  TimeoutError,
  UnrecoverableJobError,
  toErrorInfo,
} from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import type { JobArgs, JobRecord } from '../model/job.ts';
import type { JobContext, JobLogger } from './job-context.ts';
import { createJobContext, jobItself, noopLogger } from './job-context.ts';
import type { ChainStep, JobDefinition } from './job-registry.ts';

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
  signal?: AbortSignal;
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
}

/**
 * Keys the runner itself writes into args during an attempt. A node that keeps an
 * attempt's args for a later run (periodic jobs) strips them first, so they never leak
 * into the next run (JobReactor's W22).
 */
export const ATTEMPT_ARG_KEYS = ['jobItself', 'error', 'errbackError'] as const;

/** A shallow copy of `args` without the keys the runner writes (`ATTEMPT_ARG_KEYS`). */
export function stripAttemptKeys(args: JobArgs): JobArgs {
  const copy = { ...args };
  for (const key of ATTEMPT_ARG_KEYS) delete copy[key];
  return copy;
}

/**
 * Runs one attempt of a job's chain: the job, then its callbacks in definition order,
 * all with one args object (a structured clone of `record.args`; `record` is never
 * mutated). A step may mutate args or return a plain object, which is merged into them.
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
  try {
    return await attempt(def, record, opts);
  } catch (err) {
    // Only a bug in the runner itself gets here: still report it as a failed attempt.
    return {
      kind: 'error',
      args: snapshot(record.args),
      error: toErrorInfo(err),
      unrecoverable: false,
    };
  }
}

async function attempt(
  def: JobDefinition,
  record: JobRecord,
  opts: RunAttemptOptions,
): Promise<AttemptOutcome> {
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

  const contextFor = (phase: Phase): JobContext =>
    createJobContext(record, { node: opts.node, startedAt, signal: phase.signal, log });
  const label = `job ${record.name} (${record.id})`;

  // Job and callbacks. Snapshot the step list: a definition can gain steps meanwhile.
  const chain: ChainStep[] = [def.handler, ...def.callbacks.map((step) => step.fn)];
  const main = await runPhase(
    new Phase(clock, timeoutMs, external, label),
    chain,
    args,
    contextFor,
  );
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
  const phase = new Phase(clock, timeoutMs, external, `errbacks of ${label}`);
  const rescue = await runPhase(phase, errbacks, args, contextFor);
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
}

type PhaseResult =
  | { type: 'done' }
  | { type: 'threw'; thrown: unknown }
  | { type: 'timeout'; error: TimeoutError }
  | { type: 'abort'; reason: unknown };
type Interruption = Extract<PhaseResult, { type: 'timeout' | 'abort' }>;

/**
 * Runs `steps` in order against `args` until one throws or the phase is interrupted.
 * Resolves (never rejects) as soon as either happens; an interrupted step may go on in
 * the background, but nothing after it starts and its result is not merged.
 */
async function runPhase(
  phase: Phase,
  steps: readonly ChainStep[],
  args: JobArgs,
  contextFor: (phase: Phase) => JobContext,
): Promise<PhaseResult> {
  try {
    const ctx = contextFor(phase);
    const run = runSteps(phase, steps, args, ctx);
    const result =
      phase.interrupted === undefined ? await run : await Promise.race([run, phase.interrupted]);
    // An interruption that happened before we looked wins (e.g. a step aborted the
    // external signal synchronously and then returned).
    return phase.interruption ?? result;
  } finally {
    phase.dispose();
  }
}

async function runSteps(
  phase: Phase,
  steps: readonly ChainStep[],
  args: JobArgs,
  ctx: JobContext,
): Promise<PhaseResult> {
  for (const step of steps) {
    if (phase.stopped) break;
    let returned: unknown;
    try {
      // A synchronous throw lands in the catch like a rejection.
      returned = await step(args, ctx);
    } catch (thrown) {
      return { type: 'threw', thrown };
    }
    if (phase.stopped) break;
    if (isPlainObject(returned) && returned !== args) merge(args, returned);
  }
  return { type: 'done' };
}

/**
 * One phase of an attempt (the chain, or the errbacks): its own AbortController, the
 * timeout timer and the listener on the external signal. `dispose()` clears both, so
 * nothing accumulates over many attempts.
 */
class Phase {
  readonly #controller = new AbortController();
  readonly #clock: Clock;
  readonly #external: AbortSignal | undefined;
  readonly #label: string;
  readonly #timeoutMs: number | undefined;
  #deadline = 0;
  #timer: TimerHandle | undefined;
  #resolve: ((i: Interruption) => void) | undefined;
  /** Settles only when the phase is interrupted; undefined when nothing can interrupt it. */
  readonly interrupted: Promise<Interruption> | undefined;
  interruption: Interruption | undefined;

  constructor(
    clock: Clock,
    timeoutMs: number | undefined,
    external: AbortSignal | undefined,
    label: string,
  ) {
    this.#clock = clock;
    this.#external = external;
    this.#label = label;
    this.#timeoutMs = timeoutMs;
    if (timeoutMs === undefined && external === undefined) return;
    this.interrupted = new Promise<Interruption>((resolve) => (this.#resolve = resolve));
    if (external?.aborted === true) {
      this.#interrupt({ type: 'abort', reason: external.reason });
      return;
    }
    external?.addEventListener('abort', this.#onAbort);
    if (timeoutMs !== undefined) {
      this.#deadline = clock.now() + timeoutMs;
      this.#arm();
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get stopped(): boolean {
    return this.#controller.signal.aborted;
  }

  dispose(): void {
    this.#external?.removeEventListener('abort', this.#onAbort);
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  readonly #onAbort = (): void => {
    this.#interrupt({ type: 'abort', reason: this.#external?.reason });
  };

  #arm(): void {
    this.#timer = this.#clock.setTimer(this.#onTimer, this.#deadline - this.#clock.now());
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    // Clocks may fire early (long delays are capped): re-arm until the deadline.
    if (this.#clock.now() < this.#deadline) {
      this.#arm();
      return;
    }
    const error = new TimeoutError(`${this.#label} timed out after ${this.#timeoutMs} ms`);
    this.#interrupt({ type: 'timeout', error });
  };

  #interrupt(interruption: Interruption): void {
    if (this.interruption !== undefined) return;
    this.interruption = interruption;
    this.dispose();
    this.#resolve?.(interruption);
    // Last: abort listeners are user code and run synchronously.
    this.#controller.abort(
      interruption.type === 'timeout' ? interruption.error : interruption.reason,
    );
  }
}

function validTimeout(ms: number | undefined): number | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function cloneArgs(args: JobArgs): JobArgs {
  const cloned: unknown = structuredClone(args);
  if (!isPlainObject(cloned)) {
    throw new InvalidArgumentError(`job args must be a plain object (got ${typeof cloned})`);
  }
  return cloned;
}

/** A copy that a step still running in the background cannot change. Never throws. */
function snapshot(args: JobArgs): JobArgs {
  try {
    return cloneArgs(args);
  } catch {
    return { ...args };
  }
}

function isPlainObject(value: unknown): value is JobArgs {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `Object.assign`, except that a `__proto__` key becomes a plain property instead of a prototype. */
function merge(target: JobArgs, source: JobArgs): void {
  for (const key of Object.keys(source)) {
    if (key === '__proto__') {
      Object.defineProperty(target, key, {
        value: source[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      target[key] = source[key];
    }
  }
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
