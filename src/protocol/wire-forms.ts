import type { Feedback, FeedbackOutcome, JobSpec } from '../model/job.ts';

/**
 * The compact forms jobs and feedbacks take inside batched frames (protocol v2): fixed
 * tuples, the common fields by position, the rare ones in a trailing map present only when
 * one is set, and nothing the link already knows (the distributor id of a job; the node and
 * distributor of a feedback; a feedback key equal to the job id). A map per job costs a key
 * string per field on both sides; a tuple costs an array header.
 *
 *   job       [id, name, args, enqueuedAt, runAt, delivery, options?]
 *   feedback  [jobId, code, attempt, args, extra?]
 *             code = outcome (0 success, 1 error, 2 cancelled) | 4 final | 8 inErrback | 16 byApp
 *             extra = { key?, error?, next?, runs? }
 *
 * This module maps between the objects and the tuples; validate.ts checks tuples coming in.
 */

/** The optional job fields, carried in the tuple's trailing map. */
export const JOB_OPTION_KEYS = [
  'period',
  'cron',
  'tz',
  'maxAttempt',
  'retryMultiplier',
  'backoff',
  'timeout',
  'defer',
  'pinned',
  'crashes',
  'crashedOn',
  'runs',
  'attempt',
  'nonce',
  'priority',
  'limit',
  'endAt',
  'trace',
] as const satisfies readonly (keyof JobSpec)[];

export const OUTCOME_CODES: readonly FeedbackOutcome[] = ['success', 'error', 'cancelled'];
export const FB_FINAL = 4;
export const FB_IN_ERRBACK = 8;
export const FB_BY_APP = 16;
/** Every bit a code may have. */
export const FB_CODE_MAX = 31;

export type JobTuple =
  | [string, string, JobSpec['args'], number, number, number]
  | [string, string, JobSpec['args'], number, number, number, Record<string, unknown>];

export type FeedbackTuple =
  | [string, number, number, Feedback['args']]
  | [string, number, number, Feedback['args'], Record<string, unknown>];

export function jobTuple(spec: JobSpec): JobTuple {
  let options: Record<string, unknown> | undefined;
  for (const key of JOB_OPTION_KEYS) {
    const v = spec[key];
    if (v !== undefined) (options ??= {})[key] = v;
  }
  return options === undefined
    ? [spec.id, spec.name, spec.args, spec.enqueuedAt, spec.runAt, spec.delivery]
    : [spec.id, spec.name, spec.args, spec.enqueuedAt, spec.runAt, spec.delivery, options];
}

export function feedbackTuple(fb: Feedback): FeedbackTuple {
  let code = OUTCOME_CODES.indexOf(fb.outcome);
  if (fb.final) code |= FB_FINAL;
  if (fb.inErrback) code |= FB_IN_ERRBACK;
  if (fb.byApp) code |= FB_BY_APP;
  let extra: Record<string, unknown> | undefined;
  if (fb.key !== fb.jobId) (extra ??= {}).key = fb.key;
  if (fb.error !== undefined) (extra ??= {}).error = fb.error;
  if (fb.next !== undefined) (extra ??= {}).next = fb.next;
  if (fb.runs !== undefined) (extra ??= {}).runs = fb.runs;
  return extra === undefined
    ? [fb.jobId, code, fb.attempt, fb.args]
    : [fb.jobId, code, fb.attempt, fb.args, extra];
}
