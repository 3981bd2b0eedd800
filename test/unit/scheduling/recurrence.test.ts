import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import {
  CronSchedule,
  firstPeriodicDue,
  nextCronDue,
  nextPeriodicDue,
  validateCron,
  validateTimeZone,
} from '../../../src/scheduling/recurrence.ts';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('nextPeriodicDue', () => {
  it('recurrence - fixed rate over 1,000 periods never drifts', () => {
    const random = seeded(3);
    const anchor = T0 + 437;
    const period = 1234;
    let due = anchor;
    for (let k = 1; k <= 1000; k++) {
      // The timer fires a little late and the run takes a random part of the period.
      const lateness = Math.floor(random() * 20);
      const runTime = Math.floor(random() * (period - 20));
      const now = due + lateness + runTime;
      due = nextPeriodicDue(anchor, period, due, now);
      expect(due).toBe(anchor + k * period);
    }
  });

  it('recurrence - a run that overruns 3 periods skips those slots', () => {
    const anchor = T0;
    const p = 10_000;
    const previousDue = anchor + 5 * p;
    // Slots 6, 7 and 8 pass during the run; the next run is slot 9, not three bunched runs.
    expect(nextPeriodicDue(anchor, p, previousDue, previousDue + 3.5 * p)).toBe(anchor + 9 * p);
    // A slot falling exactly on `now` is not missed.
    expect(nextPeriodicDue(anchor, p, previousDue, previousDue + 3 * p)).toBe(anchor + 8 * p);
    expect(nextPeriodicDue(anchor, p, previousDue, previousDue + 3 * p + 1)).toBe(anchor + 9 * p);
    // Finishing exactly at the next slot runs that slot.
    expect(nextPeriodicDue(anchor, p, previousDue, previousDue + p)).toBe(anchor + 6 * p);
  });

  it('recurrence - the next slot comes from the grid even after an off-grid previous run', () => {
    const p = 1000;
    // A retry ran at anchor + 2,300: the next run is back on the grid at anchor + 3,000.
    expect(nextPeriodicDue(T0, p, T0 + 2300, T0 + 2400)).toBe(T0 + 3000);
    // previousDue before the anchor: the first slot is the anchor itself.
    expect(nextPeriodicDue(T0, p, T0 - 500, T0 - 400)).toBe(T0);
    // The result is always after previousDue, even when the clock went backwards.
    expect(nextPeriodicDue(T0, p, T0 + 5000, T0 - 99_999)).toBe(T0 + 6000);
  });

  it.each([[0], [-1], [Number.NaN], [Infinity]])('recurrence - period %j is rejected', (period) => {
    expect(() => nextPeriodicDue(T0, period, T0, T0)).toThrow(InvalidArgumentError);
    expect(() => firstPeriodicDue(T0, period, T0)).toThrow(InvalidArgumentError);
  });

  it('recurrence - non-finite times are rejected', () => {
    expect(() => nextPeriodicDue(Number.NaN, 1000, T0, T0)).toThrow(InvalidArgumentError);
    expect(() => nextPeriodicDue(T0, 1000, Infinity, T0)).toThrow(InvalidArgumentError);
    expect(() => nextPeriodicDue(T0, 1000, T0, Number.NaN)).toThrow(InvalidArgumentError);
  });
});

describe('firstPeriodicDue', () => {
  const p = 60_000;
  it('recurrence - runAt ahead (or now) is kept', () => {
    expect(firstPeriodicDue(T0 + 5000, p, T0)).toBe(T0 + 5000);
    expect(firstPeriodicDue(T0, p, T0)).toBe(T0);
  });

  it('recurrence - a past runAt resumes on its own grid at the first slot ≥ now', () => {
    expect(firstPeriodicDue(T0, p, T0 + 2.5 * p)).toBe(T0 + 3 * p);
    expect(firstPeriodicDue(T0, p, T0 + 2 * p)).toBe(T0 + 2 * p);
    expect(firstPeriodicDue(T0, p, T0 + 1)).toBe(T0 + p);
    expect(firstPeriodicDue(T0 + 17, p, T0 + 1000 * p)).toBe(T0 + 17 + 1000 * p);
  });

  it('recurrence - graceMs lets a just-missed slot run at once', () => {
    // A job enqueued "now" arrives 5 ms later: with a grace it still runs at once.
    expect(firstPeriodicDue(T0, p, T0 + 5, 100)).toBe(T0);
    expect(firstPeriodicDue(T0, p, T0 + 2.5 * p, p)).toBe(T0 + 2 * p);
    expect(firstPeriodicDue(T0, p, T0 + 2.5 * p, 0.4 * p)).toBe(T0 + 3 * p);
    expect(() => firstPeriodicDue(T0, p, T0, -1)).toThrow(InvalidArgumentError);
  });
});

describe('cron', () => {
  it('recurrence - */5 * * * * fires every five minutes', () => {
    const times: number[] = [];
    let t = Date.UTC(2026, 0, 1, 0, 3, 17, 250);
    for (let i = 0; i < 4; i++) {
      t = nextCronDue('*/5 * * * *', undefined, t)!;
      times.push(t);
    }
    expect(times.map(iso)).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:15:00.000Z',
      '2026-01-01T00:20:00.000Z',
    ]);
  });

  it('recurrence - the next occurrence is strictly after `after`', () => {
    const at = Date.UTC(2026, 0, 1, 0, 5);
    expect(iso(nextCronDue('*/5 * * * *', 'UTC', at))).toBe('2026-01-01T00:10:00.000Z');
    expect(iso(nextCronDue('*/5 * * * *', 'UTC', at - 1))).toBe('2026-01-01T00:05:00.000Z');
    expect(iso(new CronSchedule('*/5 * * * *', 'UTC').nextAtOrAfter(at))).toBe(
      '2026-01-01T00:05:00.000Z',
    );
    expect(iso(new CronSchedule('*/5 * * * *', 'UTC').nextAtOrAfter(at + 1))).toBe(
      '2026-01-01T00:10:00.000Z',
    );
  });

  it('recurrence - 6-field expressions have seconds', () => {
    expect(iso(nextCronDue('*/10 * * * * *', 'UTC', Date.UTC(2026, 0, 1, 0, 0, 3, 500)))).toBe(
      '2026-01-01T00:00:10.000Z',
    );
    expect(iso(nextCronDue('30 0 12 * * *', 'UTC', T0))).toBe('2026-01-01T12:00:30.000Z');
  });

  it('recurrence - cron in America/New_York follows its offset and DST', () => {
    const tz = 'America/New_York';
    expect(iso(nextCronDue('0 9 * * *', tz, T0))).toBe('2026-01-01T14:00:00.000Z'); // EST, UTC−5
    expect(iso(nextCronDue('0 9 * * *', tz, Date.UTC(2026, 6, 1)))).toBe(
      '2026-07-01T13:00:00.000Z',
    ); // EDT
    // 02:30 does not exist on 2026-03-08 (spring forward): it runs right after the gap.
    expect(iso(nextCronDue('30 2 * * *', tz, Date.UTC(2026, 2, 7, 12)))).toBe(
      '2026-03-08T07:00:00.000Z',
    );
    // 01:30 happens twice on 2026-11-01 (fall back): a fixed-time job runs once.
    const s = new CronSchedule('30 1 * * *', tz);
    const first = s.next(Date.UTC(2026, 9, 31, 12))!;
    expect(iso(first)).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(s.next(first))).toBe('2026-11-02T06:30:00.000Z');
  });

  it('recurrence - an expression that never occurs again yields undefined', () => {
    // Near the end of the Date range nothing comes after.
    expect(nextCronDue('0 0 1 1 *', 'UTC', 8.64e15 - 1000)).toBeUndefined();
  });

  it.each([
    [''],
    ['   '],
    ['bad'],
    ['* * * *'],
    ['* * * * * * *'],
    ['61 * * * *'],
    ['* 25 * * *'],
    ['* * 32 * *'],
    ['* * * 13 *'],
    ['0 0 30 2 *'],
    ['x'.repeat(300)],
  ])('recurrence - cron %j is rejected', (expr) => {
    expect(() => validateCron(expr)).toThrow(InvalidArgumentError);
  });

  it('recurrence - a non-string cron is rejected', () => {
    expect(() => validateCron(5 as unknown as string)).toThrow(InvalidArgumentError);
    expect(() => nextCronDue(undefined as unknown as string, undefined, T0)).toThrow(
      InvalidArgumentError,
    );
  });

  it.each([['Not/AZone'], ['Mars/Olympus_Mons'], [''], ['America/New York']])(
    'recurrence - time zone %j is rejected',
    (tz) => {
      expect(() => validateCron('* * * * *', tz)).toThrow(InvalidArgumentError);
      expect(() => nextCronDue('* * * * *', tz, T0)).toThrow(InvalidArgumentError);
      expect(() => validateTimeZone(tz)).toThrow(InvalidArgumentError);
    },
  );

  it('recurrence - good expressions and zones pass', () => {
    for (const expr of [
      '* * * * *',
      '*/5 * * * *',
      '0 9 * * 1-5',
      '*/10 * * * * *',
      '0 0 29 2 *',
      '@daily',
    ]) {
      expect(() => validateCron(expr)).not.toThrow();
    }
    for (const tz of ['UTC', 'America/New_York', 'Europe/Stockholm', 'Asia/Kathmandu']) {
      expect(() => validateCron('0 9 * * *', tz)).not.toThrow();
    }
    expect(() => new CronSchedule('* * * * *').next(Number.NaN)).toThrow(InvalidArgumentError);
  });
});
