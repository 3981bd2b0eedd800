import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CancelJob, ErrorCodes, TimeoutError, UnrecoverableJobError } from '../../../src/errors.ts';
import type { Clock } from '../../../src/model/clock.ts';
import type { JobContext } from '../../../src/node/running/job-context.ts';
import { runAttempt, stripAttemptKeys } from '../../../src/node/running/job-runner.ts';
import type { JobArgs } from '../../../src/model/job.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { T0, flush, makeDef, makeRecord } from './runner-helpers.ts';

const clock = new FakeClock(T0);
const base = { node: 'node-1', clock };

/** An application error with its own string code, as a library might throw. */
class ValidationLikeError extends Error {
  readonly code = 'E_VALIDATION';
  override name = 'ValidationLikeError';
}

describe('job runner - chain', () => {
  it('job runner - job then callbacks in definition order, async steps awaited', async () => {
    const order: string[] = [];
    const def = makeDef(
      async () => {
        await flush();
        order.push('job');
      },
      {
        callbacks: [
          async () => {
            await Promise.resolve();
            order.push('cb1');
          },
          () => {
            order.push('cb2');
          },
          async () => {
            await flush();
            order.push('cb3');
          },
        ],
        errbacks: [() => void order.push('errback')],
      },
    );
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome.kind).toBe('success');
    expect(order).toEqual(['job', 'cb1', 'cb2', 'cb3']);
  });

  it('job runner - args flow: mutations and returned objects are seen later and returned', async () => {
    const seen: JobArgs[] = [];
    const def = makeDef(
      (args) => {
        args.fromJob = 'mutated';
        return { returnedByJob: 1 };
      },
      {
        callbacks: [
          async (args) => {
            seen.push({ ...args });
            return { returnedByCb: [1, 2], n: 2 };
          },
          (args) => {
            seen.push({ ...args });
            return 'not an object';
          },
          (args) => {
            seen.push({ ...args });
            return [1, 2, 3];
          },
          () => undefined,
        ],
      },
    );
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(seen[0]).toMatchObject({ n: 1, fromJob: 'mutated', returnedByJob: 1 });
    expect(seen[1]).toMatchObject({ n: 2, returnedByCb: [1, 2] });
    expect(seen[2]).toMatchObject({ returnValue: 'not an object' });
    expect(outcome).toEqual({
      kind: 'success',
      args: {
        n: 2,
        nested: { list: [1, 2] },
        fromJob: 'mutated',
        returnedByJob: 1,
        returnedByCb: [1, 2],
        // The last value other than a plain object (undefined changes nothing).
        returnValue: [1, 2, 3],
      },
    });
  });

  it('job runner - a returned value that is not a plain object becomes args.returnValue', async () => {
    for (const value of ['s', 42, false, null, [1], new Date(0), 0n]) {
      const outcome = await runAttempt(
        makeDef(async () => value),
        makeRecord(),
        base,
      );
      expect(outcome.args.returnValue).toEqual(value);
    }
    // Nothing to send: functions and symbols change nothing.
    for (const value of [() => 1, Symbol('x')]) {
      const outcome = await runAttempt(
        makeDef(() => value),
        makeRecord(),
        base,
      );
      expect('returnValue' in outcome.args).toBe(false);
    }
  });

  it('job runner - every step gets the same args object and a context', async () => {
    const objects: JobArgs[] = [];
    const contexts: JobContext[] = [];
    const step = (args: JobArgs, ctx: JobContext): void => {
      objects.push(args);
      contexts.push(ctx);
    };
    const def = makeDef(step, { callbacks: [step, step] });
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(new Set(objects).size).toBe(1);
    expect(objects[0]).toBe(outcome.args);
    expect(contexts[0]).toMatchObject({
      id: 'job-1',
      name: 'test_job',
      attempt: 1,
      node: 'node-1',
    });
  });

  it('job runner - record.args is never changed, not even nested values', async () => {
    const record = makeRecord();
    const before = structuredClone(record);
    const def = makeDef(
      (args) => {
        args.n = 99;
        (args.nested as { list: number[] }).list.push(3);
        delete args.nested;
      },
      {
        callbacks: [
          () => {
            throw new Error('fail after mutation');
          },
        ],
        errbacks: [(args) => ({ ...args, more: true })],
      },
    );
    await runAttempt(def, record, base);
    expect(record).toStrictEqual(before);
  });

  it('job runner - a returned __proto__ key becomes a plain property', async () => {
    const def = makeDef(() => JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}'));
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(Object.getPrototypeOf(outcome.args)).toBe(Object.prototype);
    expect(Object.keys(outcome.args)).toContain('__proto__');
    expect((outcome.args as { polluted?: unknown }).polluted).toBeUndefined();
    expect(outcome.args.ok).toBe(1);
  });

  it('job runner - args that cannot be cloned fail the attempt as unrecoverable', async () => {
    let ran = false;
    const def = makeDef(() => void (ran = true));
    const outcome = await runAttempt(def, makeRecord({ args: { fn: () => 1 } }), base);
    expect(ran).toBe(false);
    expect(outcome).toMatchObject({
      kind: 'error',
      unrecoverable: true,
      error: { code: ErrorCodes.InvalidArgument },
    });
  });
});

describe('job runner - errors and errbacks', () => {
  it('job runner - errbacks get args.error and the merges made before the throw', async () => {
    const seen: JobArgs[] = [];
    const def = makeDef(() => ({ fromJob: 1 }), {
      callbacks: [
        (args) => {
          args.fromCb = 2;
          throw new ValidationLikeError('bad input');
        },
        () => {
          throw new Error('must not run');
        },
      ],
      errbacks: [
        (args) => {
          seen.push(structuredClone(args));
          return { fromErrback1: true };
        },
        (args) => {
          seen.push(structuredClone(args));
          args.fromErrback2 = true;
        },
      ],
    });
    const outcome = await runAttempt(def, makeRecord(), base);
    const error = { name: 'ValidationLikeError', code: 'E_VALIDATION', message: 'bad input' };
    expect(seen[0]).toMatchObject({ n: 1, fromJob: 1, fromCb: 2, error });
    expect(seen[1]).toMatchObject({ fromErrback1: true });
    expect(outcome).toEqual({
      kind: 'error',
      unrecoverable: false,
      error,
      args: {
        n: 1,
        nested: { list: [1, 2] },
        fromJob: 1,
        fromCb: 2,
        error,
        fromErrback1: true,
        fromErrback2: true,
      },
    });
  });

  it('job runner - an errback that throws sets errbackError and skips the rest', async () => {
    const order: string[] = [];
    const def = makeDef(
      () => {
        throw new Error('job failed');
      },
      {
        errbacks: [
          () => void order.push('eb1'),
          async () => {
            order.push('eb2');
            await Promise.resolve();
            throw new TypeError('errback broke');
          },
          () => void order.push('eb3'),
        ],
      },
    );
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(order).toEqual(['eb1', 'eb2']);
    expect(outcome).toMatchObject({
      kind: 'error',
      error: { name: 'Error', code: ErrorCodes.JobThrew, message: 'job failed' },
      args: {
        errbackError: { name: 'TypeError', code: ErrorCodes.JobThrew, message: 'errback broke' },
      },
    });
  });

  it('job runner - without errbacks an error still carries args.error', async () => {
    const def = makeDef(async () => {
      throw new Error('x');
    });
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({ kind: 'error', args: { error: { message: 'x' } } });
  });

  it('job runner - UnrecoverableJobError is flagged unrecoverable', async () => {
    const def = makeDef(() => {
      throw new UnrecoverableJobError('give up');
    });
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({
      kind: 'error',
      unrecoverable: true,
      error: { name: 'UnrecoverableJobError', code: ErrorCodes.Unrecoverable },
    });
  });

  it.each([
    ['a string', 'plain string', 'plain string'],
    ['a number', 42, '42'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object', { reason: 'x' }, '{"reason":"x"}'],
  ])('job runner - throwing %s gives a typed error', async (_label, thrown, message) => {
    const def = makeDef(() => {
      throw thrown;
    });
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({
      kind: 'error',
      unrecoverable: false,
      error: { name: 'JobThrewError', code: ErrorCodes.JobThrew, message },
    });
  });

  it('job runner - a synchronous throw in a sync handler is handled like a rejection', async () => {
    const errback: string[] = [];
    const def = makeDef(
      () => {
        throw new RangeError('sync');
      },
      { errbacks: [(args) => void errback.push((args.error as { message: string }).message)] },
    );
    const promise = runAttempt(def, makeRecord(), base);
    await expect(promise).resolves.toMatchObject({ kind: 'error', error: { name: 'RangeError' } });
    expect(errback).toEqual(['sync']);
  });

  it('job runner - a rejection with a non-Error value is wrapped', async () => {
    const def = makeDef(() => Promise.reject('nope'));
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({ kind: 'error', error: { message: 'nope' } });
  });
});

describe('job runner - cancel', () => {
  it('job runner - CancelJob in the job cancels without errbacks', async () => {
    const errbacks: string[] = [];
    const def = makeDef(
      (args) => {
        args.before = true;
        throw new CancelJob();
      },
      { callbacks: [() => void errbacks.push('cb')], errbacks: [() => void errbacks.push('eb')] },
    );
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toEqual({
      kind: 'cancelled',
      inErrback: false,
      args: { n: 1, nested: { list: [1, 2] }, before: true },
    });
    expect(errbacks).toEqual([]);
  });

  it('job runner - ctx.cancel() in a callback cancels', async () => {
    const ran: string[] = [];
    const def = makeDef(() => ({ merged: 1 }), {
      callbacks: [
        async (_args, ctx) => {
          await Promise.resolve();
          ctx.cancel('enough');
        },
        () => void ran.push('cb2'),
      ],
      errbacks: [() => void ran.push('eb')],
    });
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({ kind: 'cancelled', inErrback: false, args: { merged: 1 } });
    expect(ran).toEqual([]);
  });

  it('job runner - CancelJob in an errback cancels with inErrback and the original error', async () => {
    const ran: string[] = [];
    const def = makeDef(
      () => {
        throw new TypeError('first');
      },
      {
        errbacks: [(_args, ctx) => ctx.cancel(), () => void ran.push('eb2')],
      },
    );
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome).toMatchObject({
      kind: 'cancelled',
      inErrback: true,
      error: { name: 'TypeError', message: 'first' },
      args: { error: { name: 'TypeError', message: 'first' } },
    });
    expect(ran).toEqual([]);
  });

  it('job runner - a CancelJob-coded error from another copy of the library still cancels', async () => {
    const foreign = Object.assign(new Error('cancel from elsewhere'), { code: ErrorCodes.Cancel });
    const def = makeDef(() => {
      throw foreign;
    });
    expect((await runAttempt(def, makeRecord(), base)).kind).toBe('cancelled');
  });
});

describe('job runner - timeout and abort', () => {
  it('job runner - timeout aborts ctx.signal with TimeoutError and runs errbacks at once', async () => {
    const clock = new FakeClock(T0);
    let jobCtx: JobContext | undefined;
    let errbackSignalAborted: boolean | undefined;
    const ran: string[] = [];
    const def = makeDef(
      (args, ctx) => {
        jobCtx = ctx;
        args.partial = true;
        return new Promise(() => {}); // ignores the signal, never settles
      },
      {
        callbacks: [() => void ran.push('cb')],
        errbacks: [
          (args, ctx) => {
            errbackSignalAborted = ctx.signal.aborted;
            ran.push(`eb:${(args.error as { code: string }).code}`);
          },
        ],
      },
    );
    const promise = runAttempt(def, makeRecord(), { node: 'node-1', clock, timeoutMs: 5_000 });
    await flush();
    clock.advance(4_999);
    await flush();
    expect(jobCtx?.signal.aborted).toBe(false);
    clock.advance(1);
    const outcome = await promise;
    expect(jobCtx?.signal.aborted).toBe(true);
    expect(jobCtx?.signal.reason).toBeInstanceOf(TimeoutError);
    expect(errbackSignalAborted).toBe(false);
    expect(ran).toEqual([`eb:${ErrorCodes.Timeout}`]);
    expect(outcome).toMatchObject({
      kind: 'error',
      unrecoverable: false,
      error: { name: 'TimeoutError', code: ErrorCodes.Timeout },
      args: { partial: true, error: { code: ErrorCodes.Timeout } },
    });
    expect(clock.pending).toBe(0);
  });

  it('job runner - a step that finishes after the timeout changes nothing', async () => {
    const clock = new FakeClock(T0);
    let release!: () => void;
    const ran: string[] = [];
    const def = makeDef(
      async (args) => {
        await new Promise<void>((resolve) => (release = resolve));
        args.late = true;
        return { lateMerge: true };
      },
      { callbacks: [() => void ran.push('cb')] },
    );
    const promise = runAttempt(def, makeRecord(), { node: 'n', clock, timeoutMs: 10 });
    clock.advance(10);
    const outcome = await promise;
    release();
    await flush();
    expect(ran).toEqual([]);
    expect(outcome.args).not.toHaveProperty('late');
    expect(outcome.args).not.toHaveProperty('lateMerge');
  });

  it('job runner - the definition timeout applies unless the job overrides it', async () => {
    const clock = new FakeClock(T0);
    const def = makeDef(() => new Promise(() => {}), { options: { timeout: 1 } });
    const byDef = runAttempt(def, makeRecord(), { node: 'n', clock });
    clock.advance(1_000);
    expect((await byDef).kind).toBe('error');

    const byJob = runAttempt(def, makeRecord(), { node: 'n', clock, timeoutMs: 3_000 });
    clock.advance(1_000);
    await flush();
    expect(clock.pending).toBe(1);
    clock.advance(2_000);
    expect(await byJob).toMatchObject({ error: { code: ErrorCodes.Timeout } });
  });

  it('job runner - a timer that fires early is re-armed until the deadline', async () => {
    const fake = new FakeClock(T0);
    // Like systemClock capping long delays: every timer fires after at most 300 ms.
    const early: Clock = {
      now: () => fake.now(),
      setTimer: (fn, ms) => fake.setTimer(fn, Math.min(ms, 300)),
      clearTimer: (handle) => fake.clearTimer(handle),
    };
    const def = makeDef(() => new Promise(() => {}));
    const promise = runAttempt(def, makeRecord(), { node: 'n', clock: early, timeoutMs: 1_000 });
    let settled = false;
    void promise.then(() => (settled = true));
    fake.advance(999);
    await flush();
    expect(settled).toBe(false);
    expect(fake.armed).toBe(4);
    fake.advance(1);
    expect((await promise).kind).toBe('error');
    expect(fake.pending).toBe(0);
  });

  it('job runner - errbacks get their own timeout budget', async () => {
    const clock = new FakeClock(T0);
    const ran: string[] = [];
    const def = makeDef(
      () => {
        throw new Error('first');
      },
      {
        errbacks: [() => new Promise(() => {}), () => void ran.push('eb2')],
        options: { timeout: 0.1 },
      },
    );
    const promise = runAttempt(def, makeRecord(), { node: 'n', clock });
    await flush();
    clock.advance(100);
    const outcome = await promise;
    expect(ran).toEqual([]);
    expect(outcome).toMatchObject({
      kind: 'error',
      error: { message: 'first' },
      args: { errbackError: { code: ErrorCodes.Timeout } },
    });
    expect(clock.pending).toBe(0);
  });

  it('job runner - an external abort cancels at once with the same reason on ctx.signal', async () => {
    const controller = new AbortController();
    let jobCtx: JobContext | undefined;
    const ran: string[] = [];
    const def = makeDef(
      (args, ctx) => {
        jobCtx = ctx;
        args.started = true;
        return new Promise(() => {});
      },
      { errbacks: [() => void ran.push('eb')] },
    );
    const promise = runAttempt(def, makeRecord(), { ...base, signal: controller.signal });
    await flush();
    const reason = new Error('app cancel');
    controller.abort(reason);
    const outcome = await promise;
    expect(outcome).toEqual({
      kind: 'cancelled',
      inErrback: false,
      args: { n: 1, nested: { list: [1, 2] }, started: true },
    });
    expect(jobCtx?.signal.reason).toBe(reason);
    expect(ran).toEqual([]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('job runner - an already aborted signal cancels without running the job', async () => {
    let ran = false;
    const def = makeDef(() => void (ran = true));
    const outcome = await runAttempt(def, makeRecord(), {
      ...base,
      signal: AbortSignal.abort(),
    });
    expect(outcome.kind).toBe('cancelled');
    expect(ran).toBe(false);
  });

  it('job runner - an external abort during the errbacks cancels with the error', async () => {
    const controller = new AbortController();
    const def = makeDef(
      () => {
        throw new Error('first');
      },
      {
        errbacks: [
          () => {
            controller.abort();
            return new Promise(() => {});
          },
        ],
      },
    );
    const outcome = await runAttempt(def, makeRecord(), { ...base, signal: controller.signal });
    expect(outcome).toMatchObject({
      kind: 'cancelled',
      inErrback: false,
      error: { message: 'first' },
    });
  });

  it('job runner - 10,000 attempts leave no listeners or timers behind', async () => {
    const clock = new FakeClock(T0);
    const controller = new AbortController();
    const def = makeDef(async () => ({ ok: true }), {
      callbacks: [() => undefined],
      errbacks: [() => undefined],
    });
    const failing = makeDef(
      () => {
        throw new Error('x');
      },
      { errbacks: [() => undefined] },
    );
    const record = makeRecord();
    for (let i = 0; i < 10_000; i++) {
      const opts = { node: 'n', clock, signal: controller.signal, timeoutMs: 60_000 };
      const outcome = await runAttempt(i % 2 === 0 ? def : failing, record, opts);
      expect(outcome.kind).toBe(i % 2 === 0 ? 'success' : 'error');
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });
});

describe('job runner - jobItself', () => {
  it('job runner - mergeJobItselfToArgs puts a snapshot of the record in args', async () => {
    let seen: JobArgs | undefined;
    const def = makeDef((args) => {
      seen = structuredClone(args);
      args.n = 2;
    });
    const record = makeRecord({ attempt: 3, period: 60_000, args: { n: 1, jobItself: 'stale' } });
    const outcome = await runAttempt(def, record, { ...base, mergeJobItselfToArgs: true });
    expect(seen?.jobItself).toEqual({
      id: 'job-1',
      name: 'test_job',
      args: { n: 1 },
      attempt: 3,
      status: 'in progress',
      dueAt: T0,
      runAt: T0 - 1_000,
      period: 60_000,
      node: 'node-1',
      distributor: 'dist-1',
      enqueuedAt: T0 - 5_000,
      startedAt: clock.now(),
      delivery: 1,
    });
    expect(outcome.args.n).toBe(2);
    expect((outcome.args.jobItself as { args: JobArgs }).args).toEqual({ n: 1 });
    expect(stripAttemptKeys(outcome.args)).toEqual({ n: 2 });
  });

  it('job runner - without the option there is no jobItself', async () => {
    const def = makeDef(() => undefined);
    const outcome = await runAttempt(def, makeRecord(), base);
    expect(outcome.args).not.toHaveProperty('jobItself');
  });
});
