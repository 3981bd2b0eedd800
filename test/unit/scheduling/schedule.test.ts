import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { firstDue, isRecurring, nextDue } from '../../../src/scheduling/schedule.ts';
import { nextPeriodicDue } from '../../../src/scheduling/recurrence.ts';
import { TimerQueue } from '../../../src/scheduling/timer-queue.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('schedule', () => {
  it('schedule - one-shot jobs run at runAt once', () => {
    expect(isRecurring({ runAt: T0 })).toBe(false);
    expect(firstDue({ runAt: T0 + 5000 }, T0)).toBe(T0 + 5000);
    expect(firstDue({ runAt: T0 - 5000 }, T0)).toBe(T0 - 5000);
    expect(nextDue({ runAt: T0 }, T0, T0 + 10)).toBeUndefined();
  });

  it('schedule - periodic jobs use the fixed-rate grid', () => {
    const timing = { runAt: T0, period: 1000 };
    expect(isRecurring(timing)).toBe(true);
    expect(firstDue(timing, T0 + 2500)).toBe(T0 + 3000);
    expect(firstDue(timing, T0 + 2500, { graceMs: 1000 })).toBe(T0 + 2000);
    expect(nextDue(timing, T0 + 3000, T0 + 3400)).toBe(T0 + 4000);
    expect(nextDue(timing, T0 + 3000, T0 + 6400)).toBe(T0 + 7000);
  });

  it('schedule - cron jobs run at occurrences, skipping missed ones', () => {
    const timing = { runAt: T0, cron: '*/5 * * * *', tz: 'UTC' };
    expect(isRecurring(timing)).toBe(true);
    expect(iso(firstDue(timing, T0))).toBe('2026-01-01T00:00:00.000Z');
    expect(iso(firstDue(timing, T0 + 1))).toBe('2026-01-01T00:05:00.000Z');
    expect(iso(firstDue({ ...timing, runAt: T0 + 7 * 60_000 }, T0))).toBe(
      '2026-01-01T00:10:00.000Z',
    );
    const previous = Date.UTC(2026, 0, 1, 0, 10);
    expect(iso(nextDue(timing, previous, previous + 30_000))).toBe('2026-01-01T00:15:00.000Z');
    // The run took 12 minutes: 00:15 and 00:20 are skipped.
    expect(iso(nextDue(timing, previous, previous + 12 * 60_000))).toBe('2026-01-01T00:25:00.000Z');
  });

  it('schedule - period and cron together are rejected', () => {
    expect(() => firstDue({ runAt: T0, period: 1000, cron: '* * * * *' }, T0)).toThrow(
      InvalidArgumentError,
    );
    expect(() => nextDue({ runAt: T0, period: 1000, cron: '* * * * *' }, T0, T0)).toThrow(
      InvalidArgumentError,
    );
  });

  it('schedule - a periodic job on a TimerQueue runs on its grid while runs take random time', () => {
    const clock = new FakeClock(T0 + 123);
    const period = 2000;
    const anchor = clock.now();
    const runs: number[] = [];
    let busyUntil = 0;
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key, dueAt) => {
        expect(clock.now()).toBeGreaterThanOrEqual(dueAt);
        runs.push(dueAt);
        // The run "finishes" somewhere in this period, or overruns two periods every 50th run.
        const runTime = runs.length % 50 === 0 ? 2.5 * period : Math.floor(random() * period * 0.9);
        busyUntil = dueAt + runTime;
        queue.add(key, nextPeriodicDue(anchor, period, dueAt, busyUntil));
      },
    });
    queue.add('tick', anchor);
    clock.advance(400 * period);
    for (const due of runs) expect((due - anchor) % period).toBe(0);
    for (let i = 1; i < runs.length; i++) {
      const gap = runs[i]! - runs[i - 1]!;
      expect(gap === period || gap === 3 * period).toBe(true);
    }
    expect(runs.length).toBeGreaterThan(380);
    expect(clock.pending).toBe(1);
  });
});
