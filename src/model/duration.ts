import { InvalidArgumentError } from '../errors.ts';

/**
 * Durations as users write them (JobReactor's seconds, or a string with a unit) turned into
 * the milliseconds every spec and record carries.
 */

/**
 * Smallest accepted `period`, ms. A fixed-rate job with a shorter period would keep the
 * node's event loop busy with nothing but that job (a period of 0 is an endless loop of
 * immediate runs), and Node clamps timers below 1 ms anyway; 10 ms is far below any real
 * use and well above that degenerate range.
 */
export const MIN_PERIOD_MS = 10;

/**
 * Largest accepted duration or epoch time, ms: the range of a JavaScript `Date`
 * (±100,000,000 days). Anything longer cannot be turned into a due time.
 */
export const MAX_DURATION_MS = 8.64e15;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

// A plain decimal (no sign, no exponent) with an optional unit; a bare number is seconds.
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return `Date(${String(value.getTime())})`;
  return String(value);
}

function checkRange(ms: number, value: unknown, what: string): number {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(`${what} must be a finite duration ≥ 0 (got ${show(value)})`);
  }
  if (ms > MAX_DURATION_MS) {
    throw new InvalidArgumentError(
      `${what} is too long (got ${show(value)}, max ${MAX_DURATION_MS} ms)`,
    );
  }
  return Math.round(ms);
}

/**
 * Milliseconds from a user duration. Numbers are **seconds** (fractions allowed: 0.25 → 250),
 * as in JobReactor. Strings carry a unit, `ms`, `s`, `m`, `h` or `d` (`'250ms'`, `'1.5s'`,
 * `'5m'`); a bare number string is seconds. The result is rounded to whole ms.
 *
 * @param what names the option in the error message (`'after'`, `'period'`).
 * @throws InvalidArgumentError for a negative, non-finite, empty or unparsable value.
 */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number') return checkRange(value * 1000, value, what);
  if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (match) {
      const unit = (match[2] ?? 's') as Unit;
      return checkRange(Number(match[1]) * UNIT_MS[unit], value, what);
    }
    throw new InvalidArgumentError(
      `${what} must be seconds or a duration like '250ms', '1.5s', '5m', '2h', '1d' (got ${show(value)})`,
    );
  }
  throw new InvalidArgumentError(
    `${what} must be a number of seconds or a duration string (got ${show(value)})`,
  );
}

/**
 * Epoch milliseconds from a `Date` or an epoch-ms number (for `runAt`), rounded to whole ms.
 *
 * @throws InvalidArgumentError for an invalid Date, a non-finite or negative number, or
 *   anything else.
 */
export function toEpochMs(value: Date | number, what: string): number {
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else
    throw new InvalidArgumentError(
      `${what} must be a Date or epoch milliseconds (got ${show(value)})`,
    );
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS) {
    throw new InvalidArgumentError(
      `${what} must be a valid time at or after 1970 (got ${show(value)})`,
    );
  }
  return Math.round(ms);
}

/**
 * A `period` in ms from a user duration (see {@link parseDuration}), at least
 * {@link MIN_PERIOD_MS}.
 *
 * @throws InvalidArgumentError for a bad duration or a period below the minimum.
 */
export function parsePeriod(value: number | string, what = 'period'): number {
  return assertPeriodMs(parseDuration(value, what), what);
}

/**
 * Checks a period already in ms (from the wire or storage): finite, whole, at least
 * {@link MIN_PERIOD_MS}. Returns it.
 */
export function assertPeriodMs(ms: unknown, what = 'period'): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms > MAX_DURATION_MS) {
    throw new InvalidArgumentError(`${what} must be a finite number of ms (got ${show(ms)})`);
  }
  if (ms < MIN_PERIOD_MS) {
    throw new InvalidArgumentError(
      `${what} below a sane minimum of ${MIN_PERIOD_MS} ms (got ${String(ms)} ms)`,
    );
  }
  return ms;
}
