import type { JobSpec } from '../model/job.ts';
import { MAX_DURATION_MS, MIN_PERIOD_MS } from '../model/duration.ts';
import { validateCron, validateTimeZone } from './recurrence.ts';
import { messageOf } from '../errors.ts';

/** Highest `priority` number (the lowest priority): BullMQ's bound, 2²¹. */
export const MAX_PRIORITY = 2 ** 21;

/**
 * Most attempts a job may have. Each failed attempt costs a run and a retry; a job that
 * may fail 10¹⁵ times with no delay is an endless loop, not a retry policy. 10,000 is far
 * above any real use (JobReactor's default is 10).
 */
export const MAX_ATTEMPT_LIMIT = 10_000;

/**
 * Largest `retryMultiplier`, seconds per attempt: one day. With MAX_ATTEMPT_LIMIT attempts
 * the longest default retry wait stays well inside the Date range.
 */
export const MAX_RETRY_MULTIPLIER = 86_400;

/** The settings of a job that decide when and how often it runs. */
export type JobSettings = Pick<
  JobSpec,
  | 'enqueuedAt'
  | 'runAt'
  | 'period'
  | 'cron'
  | 'tz'
  | 'maxAttempt'
  | 'retryMultiplier'
  | 'backoff'
  | 'timeout'
  | 'priority'
  | 'limit'
  | 'endAt'
>;

/** What is wrong with a job's settings: the field, and a message that names it. */
export interface SettingsProblem {
  field: string;
  message: string;
}

/**
 * The semantic rules every job's settings obey, wherever they come from: `enqueue` (which
 * throws InvalidArgumentError with the message) and a node receiving a job from the wire
 * (which refuses the job with a final error feedback). The structure (fields present, of
 * the right types) is the protocol's concern (`validate.ts`); this checks the values are
 * finite, in range and make sense together, so no job can make a node loop or overflow a
 * due time:
 *
 * - `enqueuedAt`, `runAt`: epoch ms within the Date range (0 … MAX_DURATION_MS);
 * - `period`: at least MIN_PERIOD_MS (10 ms), at most MAX_DURATION_MS; not with `cron`;
 * - `cron`: a valid expression that matches some time, in `tz` if given (a valid IANA
 *   zone); `tz` only with `cron`;
 * - `maxAttempt`: a whole number 1 … MAX_ATTEMPT_LIMIT;
 * - `retryMultiplier`: seconds, 0 … MAX_RETRY_MULTIPLIER;
 * - `backoff`: `delay` and `maxDelay` 0 … MAX_DURATION_MS ms, `jitter` 0 … 1;
 * - `timeout`: 1 ms … MAX_DURATION_MS;
 * - `priority`: a whole number 1 … MAX_PRIORITY;
 * - `limit` (a whole number ≥ 1) and `endAt` (epoch ms): only with `period` or `cron`.
 *
 * Returns the first problem found, or undefined. Never throws. Cheap for a one-shot job (a
 * few comparisons); cron expressions are parsed.
 */
export function jobSettingsProblem(s: JobSettings): SettingsProblem | undefined {
  const at = epochProblem(s.enqueuedAt, 'enqueuedAt') ?? epochProblem(s.runAt, 'runAt');
  if (at !== undefined) return at;
  if (s.period !== undefined) {
    if (s.cron !== undefined) return problem('cron', 'give either period or cron, not both');
    const p = s.period as unknown;
    if (!isNumberIn(p, MIN_PERIOD_MS, MAX_DURATION_MS)) {
      return problem(
        'period',
        `period must be at least ${MIN_PERIOD_MS} ms and at most ${MAX_DURATION_MS} ms (got ${show(p)} ms)`,
      );
    }
  }
  if (s.cron !== undefined) {
    const cron = s.cron as unknown;
    const tz = s.tz as unknown;
    if (typeof cron !== 'string') return problem('cron', 'cron must be a string');
    if (tz !== undefined) {
      try {
        validateTimeZone(tz);
      } catch (err) {
        return problem('tz', messageOf(err));
      }
    }
    try {
      validateCron(cron, tz);
    } catch (err) {
      return problem('cron', messageOf(err));
    }
  } else if (s.tz !== undefined) {
    return problem('tz', 'tz only applies to cron jobs');
  }
  if (s.maxAttempt !== undefined) {
    const m = s.maxAttempt as unknown;
    if (!isNumberIn(m, 1, MAX_ATTEMPT_LIMIT) || !Number.isInteger(m)) {
      return problem(
        'maxAttempt',
        `maxAttempt must be a whole number from 1 to ${MAX_ATTEMPT_LIMIT} (got ${show(m)})`,
      );
    }
  }
  if (s.retryMultiplier !== undefined) {
    const r = s.retryMultiplier as unknown;
    if (!isNumberIn(r, 0, MAX_RETRY_MULTIPLIER)) {
      return problem(
        'retryMultiplier',
        `retryMultiplier must be a number of seconds from 0 to ${MAX_RETRY_MULTIPLIER} (got ${show(r)})`,
      );
    }
  }
  if (s.backoff !== undefined) {
    const b = backoffProblem(s.backoff);
    if (b !== undefined) return b;
  }
  if (s.priority !== undefined) {
    const p = s.priority as unknown;
    if (!isNumberIn(p, 1, MAX_PRIORITY) || !Number.isInteger(p)) {
      return problem(
        'priority',
        `priority must be a whole number from 1 (highest) to ${MAX_PRIORITY} (got ${show(p)})`,
      );
    }
  }
  if (s.limit !== undefined || s.endAt !== undefined) {
    const field = s.limit !== undefined ? 'limit' : 'endAt';
    if (s.period === undefined && s.cron === undefined) {
      return problem(field, `${field} only applies to period and cron jobs`);
    }
    const l = s.limit as unknown;
    if (l !== undefined && (!isNumberIn(l, 1, Number.MAX_SAFE_INTEGER) || !Number.isInteger(l))) {
      return problem('limit', `limit must be a whole number of runs ≥ 1 (got ${show(l)})`);
    }
    if (s.endAt !== undefined) {
      const e = epochProblem(s.endAt, 'endAt');
      if (e !== undefined) return e;
      if (s.endAt < s.runAt) {
        return problem('endAt', 'endAt is before the first run (runAt): the job would never run');
      }
    }
  }
  if (s.timeout !== undefined) {
    const t = s.timeout as unknown;
    if (!isNumberIn(t, 1, MAX_DURATION_MS)) {
      return problem(
        'timeout',
        `timeout must be at least 1 ms and at most ${MAX_DURATION_MS} ms (got ${show(t)} ms)`,
      );
    }
  }
  return undefined;
}

function backoffProblem(b: unknown): SettingsProblem | undefined {
  if (typeof b !== 'object' || b === null) return problem('backoff', 'backoff must be an object');
  const { type, delay, maxDelay, jitter } = b as Record<string, unknown>;
  if (type !== 'fixed' && type !== 'linear' && type !== 'exponential') {
    return problem(
      'backoff.type',
      `backoff.type must be 'fixed', 'linear' or 'exponential' (got ${show(type)})`,
    );
  }
  if (!isNumberIn(delay, 0, MAX_DURATION_MS)) {
    return problem('backoff.delay', msMessage('backoff.delay', delay));
  }
  if (type !== 'exponential') return undefined;
  if (maxDelay !== undefined && !isNumberIn(maxDelay, 0, MAX_DURATION_MS)) {
    return problem('backoff.maxDelay', msMessage('backoff.maxDelay', maxDelay));
  }
  if (jitter !== undefined && !isNumberIn(jitter, 0, 1)) {
    return problem(
      'backoff.jitter',
      `backoff.jitter must be a fraction 0..1 (got ${show(jitter)})`,
    );
  }
  return undefined;
}

function epochProblem(v: unknown, field: string): SettingsProblem | undefined {
  if (isNumberIn(v, 0, MAX_DURATION_MS)) return undefined;
  return problem(
    field,
    `${field} must be a time from 1970 to the end of the Date range, epoch ms (got ${show(v)})`,
  );
}

/** A number in [min, max]; NaN and ±Infinity are not. */
function isNumberIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && v >= min && v <= max;
}

function msMessage(field: string, v: unknown): string {
  return `${field} must be a number of ms from 0 to ${MAX_DURATION_MS} (got ${show(v)})`;
}

function problem(field: string, message: string): SettingsProblem {
  return { field, message };
}

/** A peer-controlled value in a message: numbers as they are, anything else short. */
function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return v === null ? 'null' : typeof v;
}
