import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, ShutdownError } from '../../../src/errors.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import type { JobLogger } from '../../../src/node/running/job-context.ts';
import type { AttemptOutcome } from '../../../src/node/running/job-runner.ts';
import { ThreadPool } from '../../../src/node/running/thread-pool.ts';
import { makeRecord } from './runner-helpers.ts';

const JOB_DIR = fileURLToPath(new URL('../../fixtures/defer-jobs', import.meta.url));

// Real threads and real time: the grace before a thread is terminated must really pass.
let pool: ThreadPool;
beforeAll(() => {
  pool = new ThreadPool({ jobDirectory: JOB_DIR, size: 2, graceMs: 200 });
});
afterAll(async () => {
  await pool.close();
});

const record = (name: string, args: Record<string, unknown> = {}): JobRecord =>
  makeRecord({ name, args });

/** A logger that keeps what it gets, and resolves `seen(msg)` when `msg` is logged. */
function recordingLogger() {
  const lines: { level: string; obj?: object; msg?: string }[] = [];
  const waiters = new Map<string, () => void>();
  const at =
    (level: string) =>
    (objOrMsg: object | string, msg?: string): void => {
      const line =
        typeof objOrMsg === 'string'
          ? { level, msg: objOrMsg }
          : { level, obj: objOrMsg, ...(msg === undefined ? {} : { msg }) };
      lines.push(line);
      if (line.msg !== undefined) waiters.get(line.msg)?.();
    };
  const log: JobLogger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  const seen = (msg: string) => new Promise<void>((resolve) => waiters.set(msg, resolve));
  return { log, lines, seen };
}

function expectKind<K extends AttemptOutcome['kind']>(
  outcome: AttemptOutcome,
  kind: K,
): Extract<AttemptOutcome, { kind: K }> {
  expect(outcome.kind, JSON.stringify(outcome)).toBe(kind);
  return outcome as Extract<AttemptOutcome, { kind: K }>;
}

describe('thread pool - chain semantics in a worker thread', () => {
  it('thread pool - result args come back from a worker thread', async () => {
    const outcome = await pool.run(record('defer_fixture_echo', { n: 21 }), { node: 'node-a' });
    const { args } = expectKind(outcome, 'success');
    expect(args).toMatchObject({
      n: 21,
      doubled: 42,
      isMainThread: false,
      node: 'node-a',
      attempt: 1,
    });
    expect(args.threadId).toBeGreaterThan(0);
  });

  it('thread pool - callbacks run in order with merged args; ctx.log reaches the node', async () => {
    const { log, lines } = recordingLogger();
    const outcome = await pool.run(record('defer_fixture_chain'), { node: 'n', log });
    const { args } = expectKind(outcome, 'success');
    expect(args).toEqual({
      trace: ['job', 'callback:first', 'callback:second'],
      fromJob: 1,
      fromFirst: 2,
      fromSecond: 3,
    });
    expect(lines).toContainEqual({ level: 'info', obj: { step: 'second' }, msg: 'chain done' });
  });

  it('thread pool - errbacks get args.error; a throwing errback skips the rest', async () => {
    const outcome = await pool.run(record('defer_fixture_fail'), { node: 'n' });
    const failed = expectKind(outcome, 'error');
    expect(failed.unrecoverable).toBe(true);
    expect(failed.error).toMatchObject({ code: ErrorCodes.Unrecoverable, message: 'bad input' });
    expect(failed.args).toMatchObject({
      trace: ['job', `errback:first:${ErrorCodes.Unrecoverable}`, 'errback:second'],
      firstSawError: 'bad input',
      error: failed.error,
      errbackError: { name: 'TypeError', message: 'errback broke' },
    });
    expect(failed.args).not.toHaveProperty('callbackRan');
    expect(failed.args).not.toHaveProperty('thirdRan');
  });

  it('thread pool - CancelJob inside the thread: cancelled, no errbacks', async () => {
    const outcome = await pool.run(record('defer_fixture_cancel'), { node: 'n' });
    const cancelled = expectKind(outcome, 'cancelled');
    expect(cancelled.inErrback).toBe(false);
    expect(cancelled.args).toEqual({ before: true });
  });

  it('thread pool - a job the thread does not know: JR_ERR_UNKNOWN_JOB', async () => {
    const outcome = await pool.run(record('defer_fixture_missing'), { node: 'n' });
    const failed = expectKind(outcome, 'error');
    expect(failed.error.code).toBe(ErrorCodes.UnknownJob);
    expect(failed.unrecoverable).toBe(true);
  });

  it('thread pool - final args that cannot be cloned back: InvalidArgument error', async () => {
    const outcome = await pool.run(record('defer_fixture_unclonable'), { node: 'n' });
    expect(expectKind(outcome, 'error').error.code).toBe(ErrorCodes.InvalidArgument);
  });

  it('thread pool - a job directory that fails to load: error outcome, no crash', async () => {
    const broken = new ThreadPool({ jobDirectory: `${JOB_DIR}/does-not-exist`, size: 1 });
    try {
      const outcome = await broken.run(record('defer_fixture_echo', { n: 1 }), { node: 'n' });
      expect(expectKind(outcome, 'error').error.code).toBe(ErrorCodes.InvalidArgument);
    } finally {
      await broken.close();
    }
  });
});

describe('thread pool - timeouts and aborts', () => {
  it('thread pool - timeout: ctx.signal aborts in the thread, errbacks get a TimeoutError', async () => {
    const outcome = await pool.run(record('defer_fixture_wait'), { node: 'n', timeoutMs: 100 });
    const failed = expectKind(outcome, 'error');
    expect(failed.error).toMatchObject({ name: 'TimeoutError', code: ErrorCodes.Timeout });
    expect(failed.args).toMatchObject({
      sawAbort: { name: 'TimeoutError', code: ErrorCodes.Timeout },
      errbackSaw: ErrorCodes.Timeout,
    });
  });

  it('thread pool - external abort: the thread-side ctx.signal aborts, outcome cancelled', async () => {
    const { log, seen } = recordingLogger();
    const controller = new AbortController();
    const started = seen('waiting');
    const run = pool.run(record('defer_fixture_wait', { logStart: true }), {
      node: 'n',
      signal: controller.signal,
      log,
    });
    await started;
    controller.abort(new ShutdownError('node stopping'));
    const cancelled = expectKind(await run, 'cancelled');
    expect(cancelled.inErrback).toBe(false);
    // Recorded by the job's own abort listener, in the thread: a cooperative abort.
    expect(cancelled.args.sawAbort).toEqual({
      name: 'RemoteError',
      code: ErrorCodes.Shutdown,
      message: 'node stopping',
    });
    expect(cancelled.args).not.toHaveProperty('errbackSaw');
  });

  it('thread pool - a job that ignores the abort: thread terminated after the grace', async () => {
    const controller = new AbortController();
    const { log, seen } = recordingLogger();
    const started = seen('burning');
    const run = pool.run(record('defer_fixture_burn', { ms: 60_000, logStart: true }), {
      node: 'n',
      signal: controller.signal,
      log,
    });
    await started;
    controller.abort();
    const cancelled = expectKind(await run, 'cancelled');
    expect(cancelled.args).toEqual({ ms: 60_000, logStart: true });
    const next = await pool.run(record('defer_fixture_echo', { n: 2 }), { node: 'n' });
    expect(expectKind(next, 'success').args.doubled).toBe(4);
  });

  it('thread pool - a job that blocks past its timeout: terminated, errbacks run in a fresh thread', async () => {
    const outcome = await pool.run(record('defer_fixture_burn', { ms: 60_000 }), {
      node: 'n',
      timeoutMs: 100,
    });
    const failed = expectKind(outcome, 'error');
    expect(failed.error).toMatchObject({ name: 'TimeoutError', code: ErrorCodes.Timeout });
    expect(failed.unrecoverable).toBe(false);
    expect(failed.args.rescuedWith).toBe(ErrorCodes.Timeout);
  });

  it('thread pool - an abort while queued drops the task without running it', async () => {
    const small = new ThreadPool({ jobDirectory: JOB_DIR, size: 1, graceMs: 100 });
    try {
      const blocker = new AbortController();
      const busy = small.run(record('defer_fixture_burn', { ms: 60_000 }), {
        node: 'n',
        signal: blocker.signal,
      });
      const queued = new AbortController();
      const waiting = small.run(record('defer_fixture_echo', { n: 1 }), {
        node: 'n',
        signal: queued.signal,
      });
      queued.abort();
      expect(expectKind(await waiting, 'cancelled').args).toEqual({ n: 1 });
      blocker.abort();
      expectKind(await busy, 'cancelled');
    } finally {
      await small.close();
    }
  });
});

describe('thread pool - crashes and the event loop', () => {
  it('thread pool - process.exit in a job: JobThrew error, errbacks rescued, pool survives', async () => {
    const outcome = await pool.run(record('defer_fixture_exit'), { node: 'n' });
    const failed = expectKind(outcome, 'error');
    expect(failed.error.code).toBe(ErrorCodes.JobThrew);
    expect(failed.error.message).toMatch(/exited with code: 3/);
    expect(failed.args).toMatchObject({ rescuedWith: ErrorCodes.JobThrew, isMainThread: false });
    const next = await pool.run(record('defer_fixture_echo', { n: 5 }), { node: 'n' });
    expect(expectKind(next, 'success').args.doubled).toBe(10);
  });

  it('thread pool - an uncaught exception in the thread: JobThrew error, pool survives', async () => {
    const outcome = await pool.run(record('defer_fixture_uncaught'), { node: 'n' });
    const failed = expectKind(outcome, 'error');
    expect(failed.error.code).toBe(ErrorCodes.JobThrew);
    expect(failed.error.message).toMatch(/escaped the chain/);
    const next = await pool.run(record('defer_fixture_echo', { n: 6 }), { node: 'n' });
    expect(expectKind(next, 'success').args.doubled).toBe(12);
  });

  it('thread pool - a CPU-bound job does not block the main event loop', async () => {
    // Warm up: the thread has started and imported the job directory.
    expectKind(await pool.run(record('defer_fixture_echo', { n: 0 }), { node: 'n' }), 'success');
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const outcome = await pool.run(record('defer_fixture_burn', { ms: 1_500 }), { node: 'n' });
    delay.disable();
    expect(expectKind(outcome, 'success').args.spins).toBeGreaterThan(0);
    const maxMs = delay.max / 1e6;
    console.info(
      `thread pool - event-loop delay while burning 1.5 s in a thread: max ${maxMs.toFixed(1)} ms, mean ${(delay.mean / 1e6).toFixed(1)} ms`,
    );
    expect(maxMs).toBeLessThan(200);
  });
});

describe('thread pool - close', () => {
  it('thread pool - close aborts what outlives the bound; later runs fail with ClosedError', async () => {
    const closing = new ThreadPool({
      jobDirectory: JOB_DIR,
      size: 1,
      graceMs: 100,
      closeTimeoutMs: 100,
    });
    const { log, seen } = recordingLogger();
    const started = seen('burning');
    const run = closing.run(record('defer_fixture_burn', { ms: 60_000, logStart: true }), {
      node: 'n',
      log,
    });
    await started;
    await closing.close();
    expectKind(await run, 'cancelled');
    expect(closing.state).toBe('closed');
    const late = await closing.run(record('defer_fixture_echo', { n: 1 }), { node: 'n' });
    expect(expectKind(late, 'error').error.code).toBe(ErrorCodes.Closed);
  });

  it('thread pool - close waits for a running job that finishes in time', async () => {
    const closing = new ThreadPool({ jobDirectory: JOB_DIR, size: 1 });
    const run = closing.run(record('defer_fixture_echo', { n: 4 }), { node: 'n' });
    await closing.close();
    expect(expectKind(await run, 'success').args.doubled).toBe(8);
  });
});
