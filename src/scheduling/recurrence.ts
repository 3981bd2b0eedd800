import { Cron, type CronOptions } from 'croner';
import { InvalidArgumentError, messageOf } from '../errors.ts';

/**
 * When a periodic or cron job runs next. Pure functions of absolute epoch-ms times, so a node
 * that restarts (or receives a re-dispatched job) lands on the same schedule.
 *
 * Periodic jobs run at a FIXED RATE on a grid anchored at their first due time (`runAt`):
 * slot k is `anchor + k × period`. Slots are always computed from the anchor, never as "last
 * run + period", so run time and timer lateness never make the schedule drift (JobReactor's
 * fixed delay after completion did, W20). Slots that passed while a run overran or the node
 * was down are skipped, not run back to back.
 */

function checkPeriod(period: number): void {
  if (typeof period !== 'number' || !Number.isFinite(period) || period <= 0) {
    throw new InvalidArgumentError(
      `period must be a finite number of ms > 0 (got ${String(period)})`,
    );
  }
}

function checkTime(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${what} must be a finite epoch ms (got ${String(value)})`);
  }
}

/** The first grid slot `anchor + k × period` (k ≥ 0) that is ≥ `t`. */
function slotAtOrAfter(anchor: number, period: number, t: number): number {
  if (t <= anchor) return anchor;
  let slot = anchor + Math.ceil((t - anchor) / period) * period;
  if (slot < t) slot += period; // floating-point guard for non-integer inputs
  return slot;
}

/**
 * Next due time of a fixed-rate job after the run that was due at `previousDue`.
 *
 * Exact rule: let `next` be the first grid slot `anchor + k × period` strictly after
 * `previousDue` (that is `previousDue + period` when `previousDue` is a slot). If `next ≥ now`
 * it is returned. Otherwise the run overran (or the node was away) and the missed slots are
 * skipped: the result is the first slot that is ≥ `now` (a slot falling exactly on `now` is
 * not missed, and fires at once). The result is always a slot, `> previousDue` and `≥ now`.
 *
 * @param anchor the job's first due time (its `runAt`), which fixes the grid.
 * @throws InvalidArgumentError for a non-positive period or a non-finite time.
 */
export function nextPeriodicDue(
  anchor: number,
  period: number,
  previousDue: number,
  now: number,
): number {
  checkPeriod(period);
  checkTime(anchor, 'anchor');
  checkTime(previousDue, 'previousDue');
  checkTime(now, 'now');
  let next = slotAtOrAfter(anchor, period, previousDue);
  if (next <= previousDue) next += period;
  if (next >= now) return next;
  return slotAtOrAfter(anchor, period, now);
}

/**
 * Due time of a periodic job when a node receives it (or resumes it after a restart or a
 * re-dispatch): `runAt` when that is still ahead (or exactly now); otherwise the first slot
 * `runAt + k × period` that is ≥ `now`, so a re-dispatched job keeps its original grid.
 *
 * `graceMs` lets a slot that passed at most that long ago still run (at once) instead of
 * being skipped. A node receiving a freshly enqueued job should pass a grace (its `runAt`
 * is usually the enqueue time, already a few ms in the past on arrival), or the first run
 * would wait a whole period.
 *
 * @throws InvalidArgumentError for a non-positive period, a negative grace or a non-finite time.
 */
export function firstPeriodicDue(runAt: number, period: number, now: number, graceMs = 0): number {
  checkPeriod(period);
  checkTime(runAt, 'runAt');
  checkTime(now, 'now');
  if (typeof graceMs !== 'number' || !(graceMs >= 0)) {
    throw new InvalidArgumentError(`graceMs must be a number ≥ 0 (got ${String(graceMs)})`);
  }
  if (runAt >= now) return runAt;
  const latest = runAt + Math.floor((now - runAt) / period) * period;
  if (now - latest <= graceMs) return latest;
  return slotAtOrAfter(runAt, period, now);
}

const MAX_CRON_LENGTH = 256;

/**
 * Checks an IANA time zone name with the runtime's own zone database.
 *
 * @throws InvalidArgumentError for an unknown zone or a non-string.
 */
export function validateTimeZone(tz: unknown): asserts tz is string {
  if (typeof tz !== 'string' || tz === '' || tz.length > 100) {
    throw new InvalidArgumentError(
      `tz must be an IANA time zone name (got ${JSON.stringify(tz) ?? 'undefined'})`,
    );
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch (cause) {
    throw new InvalidArgumentError(`tz is not a known time zone (got ${JSON.stringify(tz)})`, {
      cause,
    });
  }
}

/**
 * A parsed cron expression (5 fields, minute precision; or 6, with seconds first) in an
 * optional time zone (default: the process's zone). croner does the calendar work, paused
 * and without a callback, so it never arms timers of its own: the node's TimerQueue does.
 */
export class CronSchedule {
  readonly expr: string;
  readonly tz: string | undefined;
  readonly #cron: Cron;

  /** @throws InvalidArgumentError for a bad expression or time zone. */
  constructor(expr: string, tz?: string) {
    if (typeof expr !== 'string' || expr.trim() === '' || expr.length > MAX_CRON_LENGTH) {
      throw new InvalidArgumentError(
        `cron must be a 5- or 6-field expression (got ${JSON.stringify(expr) ?? 'undefined'})`,
      );
    }
    if (tz !== undefined) validateTimeZone(tz);
    const options: CronOptions = { paused: true, mode: '5-or-6-parts' };
    if (tz !== undefined) options.timezone = tz;
    try {
      this.#cron = new Cron(expr, options);
    } catch (cause) {
      throw new InvalidArgumentError(
        `cron expression ${JSON.stringify(expr)} is invalid: ${messageOf(cause)}`,
        {
          cause,
        },
      );
    }
    this.expr = expr;
    this.tz = tz;
  }

  /**
   * The first occurrence strictly after `after` (epoch ms), or undefined when there is none.
   * Occurrences fall on whole seconds.
   */
  next(after: number): number | undefined {
    checkTime(after, 'after');
    let date: Date | null;
    try {
      date = this.#cron.nextRun(new Date(after));
    } catch (cause) {
      throw new InvalidArgumentError(
        `cron expression ${JSON.stringify(this.expr)} cannot be evaluated: ${messageOf(cause)}`,
        {
          cause,
        },
      );
    }
    return date === null ? undefined : date.getTime();
  }

  /** The first occurrence at or after `t`. */
  nextAtOrAfter(t: number): number | undefined {
    // croner drops the milliseconds of its reference and looks strictly after it.
    return this.next(t - 1);
  }
}

/**
 * Checks a cron expression and its optional time zone at enqueue time. An expression that
 * can never match (`0 0 30 2 *`) is rejected too.
 *
 * @throws InvalidArgumentError for a bad expression or time zone.
 */
export function validateCron(expr: string, tz?: string): void {
  const schedule = new CronSchedule(expr, tz);
  // Without a year field every pattern repeats within a few decades, so "nothing after the
  // epoch" means "never".
  if (schedule.next(0) === undefined) {
    throw new InvalidArgumentError(`cron expression ${JSON.stringify(expr)} never matches`);
  }
}

/**
 * The first occurrence of `expr` (in `tz`) strictly after `after`, epoch ms; undefined when
 * it never occurs again.
 *
 * @throws InvalidArgumentError for a bad expression or time zone.
 */
export function nextCronDue(
  expr: string,
  tz: string | undefined,
  after: number,
): number | undefined {
  return new CronSchedule(expr, tz).next(after);
}
