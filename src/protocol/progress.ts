import { InvalidArgumentError } from '../errors.ts';
import { packChecked } from './codec.ts';
import { argsProblem } from './validate.ts';

/** What `ctx.progress()` reports: a number, or a small plain object. */
export type ProgressValue = number | Record<string, unknown>;

/** Largest progress value, encoded: it rides the link beside jobs and feedbacks. */
export const MAX_PROGRESS_BYTES = 4096;

/**
 * Checks a value a job reports with `ctx.progress()`, where the job can hear about it: a
 * finite number, or a plain object of plain data of at most MAX_PROGRESS_BYTES encoded.
 * Throws InvalidArgumentError otherwise (into the job's code, which may catch it).
 */
export function assertProgress(value: unknown): asserts value is ProgressValue {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
    throw new InvalidArgumentError(`progress must be a finite number (got ${String(value)})`);
  }
  const problem = argsProblem(value);
  if (problem !== undefined) {
    throw new InvalidArgumentError(
      `progress must be a number or a plain object of plain data: ${problem.replace(/^args/, 'progress')}`,
    );
  }
  let size: number;
  try {
    size = packChecked(value).length;
  } catch (err) {
    throw new InvalidArgumentError('progress cannot be encoded', { cause: err });
  }
  if (size > MAX_PROGRESS_BYTES) {
    throw new InvalidArgumentError(
      `progress is ${size} bytes encoded, over the ${MAX_PROGRESS_BYTES} allowed: report a summary (a number, a few fields)`,
    );
  }
}
