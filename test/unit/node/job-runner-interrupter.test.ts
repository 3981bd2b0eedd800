import { describe, expect, it } from 'vitest';
import { Interrupter, runAttempt, runAttemptNow } from '../../../src/node/running/job-runner.ts';
import type { JobContext } from '../../../src/node/running/job-context.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { T0, flush, makeDef, makeRecord } from './runner-helpers.ts';

describe('job runner - Interrupter', () => {
  it('job runner - an Interrupter stops a running attempt like an AbortSignal, with its reason', async () => {
    const stop = new Interrupter();
    let jobCtx: JobContext | undefined;
    const def = makeDef((_args, ctx) => {
      jobCtx = ctx;
      return new Promise(() => {});
    });
    const promise = runAttempt(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    await flush();
    expect(stop.listenerCount).toBe(1);
    const reason = new Error('stop');
    stop.abort(reason);
    expect((await promise).kind).toBe('cancelled');
    expect(jobCtx?.signal.reason).toBe(reason);
    expect(stop.listenerCount).toBe(0);
  });

  it('job runner - an aborted Interrupter cancels before the job runs; abort is idempotent', async () => {
    const stop = new Interrupter();
    stop.abort();
    stop.abort(new Error('second'));
    expect(stop.aborted).toBe(true);
    expect((stop.reason as Error).name).toBe('AbortError');
    let ran = false;
    const def = makeDef(() => void (ran = true));
    const outcome = await runAttempt(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    expect(outcome.kind).toBe('cancelled');
    expect(ran).toBe(false);
  });

  it('job runner - 1,000 attempts sharing an Interrupter leave no listeners behind', async () => {
    const stop = new Interrupter();
    const def = makeDef(async () => ({ ok: true }));
    for (let i = 0; i < 1_000; i++) {
      const outcome = await runAttempt(def, makeRecord(), {
        node: 'n',
        clock: new FakeClock(T0),
        signal: stop,
      });
      expect(outcome.kind).toBe('success');
    }
    expect(stop.listenerCount).toBe(0);
  });

  it('job runner - a step that aborts the Interrupter sees ctx.signal aborted at once', async () => {
    const stop = new Interrupter();
    let seen: boolean | undefined;
    const def = makeDef((_args, ctx) => {
      stop.abort(new Error('from inside'));
      seen = ctx.signal.aborted;
    });
    const outcome = await runAttempt(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    expect(outcome.kind).toBe('cancelled');
    expect(seen).toBe(true);
    expect(stop.listenerCount).toBe(0);
  });

  it('job runner - a synchronous chain adds no listener to the stop signal, and its outcome comes without a promise', () => {
    const stop = new Interrupter();
    let adds = 0;
    const add = stop.addEventListener.bind(stop);
    stop.addEventListener = (type, listener) => {
      adds++;
      add(type, listener);
    };
    const def = makeDef(() => ({ a: 1 }), { callbacks: [() => ({ b: 2 })] });
    const outcome = runAttemptNow(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    expect(outcome).not.toBeInstanceOf(Promise);
    expect(outcome).toMatchObject({ kind: 'success', args: { a: 1, b: 2 } });
    expect(adds).toBe(0);
  });

  it('job runner - a synchronous step that aborts the stop signal: the next step does not run, and a step that reads ctx.signal first sees it abort', () => {
    const stop = new Interrupter();
    const ran: string[] = [];
    let signal: AbortSignal | undefined;
    const def = makeDef(
      (_args, ctx) => {
        signal = ctx.signal; // held before the abort: it must abort at once
        ran.push('job');
        stop.abort(new Error('from inside'));
        ran.push(`aborted ${String(signal.aborted)}`);
      },
      { callbacks: [() => void ran.push('callback')] },
    );
    const outcome = runAttemptNow(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    expect(outcome).toMatchObject({ kind: 'cancelled' });
    expect(ran).toEqual(['job', 'aborted true']);
    expect(stop.listenerCount).toBe(0);
  });

  it('job runner - a synchronous last step that aborts the stop signal makes the attempt cancelled', () => {
    const stop = new Interrupter();
    const def = makeDef(() => void stop.abort(new Error('late')));
    const outcome = runAttemptNow(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(T0),
      signal: stop,
    });
    expect(outcome).toMatchObject({ kind: 'cancelled' });
  });
});
