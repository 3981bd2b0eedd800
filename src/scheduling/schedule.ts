import { InvalidArgumentError } from '../errors.ts';
import type { JobSpec } from '../model/job.ts';
import { CronSchedule, firstPeriodicDue, nextPeriodicDue } from './recurrence.ts';

/** The fields of a job that decide when it runs. */
export type Timing = Pick<JobSpec, 'runAt' | 'period' | 'cron' | 'tz'>;

/** True for a job that runs more than once (a `period` or a `cron`). */
export function isRecurring(timing: Timing): boolean {
  return timing.period !== undefined || timing.cron !== undefined;
}

function checkTiming(timing: Timing): void {
  if (timing.period !== undefined && timing.cron !== undefined) {
    throw new InvalidArgumentError('a job has either a period or a cron, not both');
  }
}

/**
 * When a node should first run a job it receives or resumes:
 * - one-shot: `runAt` (a time in the past fires on the queue's next turn);
 * - periodic: {@link firstPeriodicDue} (keeps the grid anchored at `runAt`);
 * - cron: the first occurrence at or after both `runAt` and `now`; undefined when the
 *   expression never occurs again.
 *
 * @param options.graceMs see {@link firstPeriodicDue}; periodic jobs only. @default 0
 * @throws InvalidArgumentError for inconsistent or invalid timing.
 */
export function firstDue(
  timing: Timing,
  now: number,
  options: { graceMs?: number } = {},
): number | undefined {
  checkTiming(timing);
  if (timing.period !== undefined) {
    return firstPeriodicDue(timing.runAt, timing.period, now, options.graceMs ?? 0);
  }
  if (timing.cron !== undefined) {
    return new CronSchedule(timing.cron, timing.tz).nextAtOrAfter(Math.max(timing.runAt, now));
  }
  return timing.runAt;
}

/**
 * When a recurring job runs next after the run due at `previousDue` finished (or its
 * attempts were used up); undefined for a one-shot job or a cron that never occurs again.
 * Periodic: {@link nextPeriodicDue} anchored at `runAt`. Cron: the first occurrence after
 * `previousDue` that is not already past (missed occurrences are skipped).
 *
 * @throws InvalidArgumentError for inconsistent or invalid timing.
 */
export function nextDue(timing: Timing, previousDue: number, now: number): number | undefined {
  checkTiming(timing);
  if (timing.period !== undefined) {
    return nextPeriodicDue(timing.runAt, timing.period, previousDue, now);
  }
  if (timing.cron !== undefined) {
    const schedule = new CronSchedule(timing.cron, timing.tz);
    const next = schedule.next(previousDue);
    if (next === undefined || next >= now) return next;
    return schedule.nextAtOrAfter(now);
  }
  return undefined;
}

/**
 * True for a job enqueued to run at once (not recurring, no delay), as the distributor
 * judged it at enqueue: such a job took a node's credit and counts as running from its
 * dispatch.
 */
export function isInstantSpec(
  spec: Pick<JobSpec, 'runAt' | 'enqueuedAt' | 'period' | 'cron'>,
): boolean {
  return !isRecurring(spec) && spec.runAt <= spec.enqueuedAt;
}
