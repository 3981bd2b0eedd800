import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../src/model/job.ts';
import { runAttempt, type BlockWatch } from '../../../src/node/running/job-runner.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { makeDef, makeRecord } from './runner-helpers.ts';

/** Holds the event loop for `ms` of CPU time (the behaviour under test, not a speed). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* busy */
  }
}

function watch(thresholdMs: number): BlockWatch & { seen: { id: string; ms: number }[] } {
  const seen: { id: string; ms: number }[] = [];
  return {
    thresholdMs,
    seen,
    blocked: (record: JobRecord, ms: number) => void seen.push({ id: record.id, ms }),
  };
}

describe('job-runner - block watch', () => {
  it('job-runner - a synchronous step over the threshold is reported with its job and time', async () => {
    const w = watch(20);
    const def = makeDef(() => busy(40), { callbacks: [() => ({ quick: true })] });
    const out = await runAttempt(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(),
      blockWatch: w,
    });
    expect(out.kind).toBe('success');
    expect(w.seen).toHaveLength(1); // the job, not the quick callback
    expect(w.seen[0]!.id).toBe('job-1');
    expect(w.seen[0]!.ms).toBeGreaterThanOrEqual(40);
  });

  it('job-runner - the synchronous part of an async step, a throwing step and an errback count too', async () => {
    const w = watch(20);
    const def = makeDef(
      async () => {
        busy(30); // before its first await: still on the loop
        await Promise.resolve();
        throw new Error('then fails');
      },
      {
        errbacks: [
          () => {
            busy(30);
            throw new Error('errback fails');
          },
        ],
      },
    );
    const out = await runAttempt(def, makeRecord(), {
      node: 'n',
      clock: new FakeClock(),
      blockWatch: w,
    });
    expect(out.kind).toBe('error');
    expect(w.seen).toHaveLength(2);
  });

  it('job-runner - steps under the threshold, or no watch, report nothing', async () => {
    const w = watch(1000);
    const def = makeDef(() => busy(5));
    await runAttempt(def, makeRecord(), { node: 'n', clock: new FakeClock(), blockWatch: w });
    await runAttempt(def, makeRecord(), { node: 'n', clock: new FakeClock() });
    expect(w.seen).toHaveLength(0);
  });
});
