import { InvalidArgumentError, type ErrorInfo } from '../errors.ts';
import type { BackoffSpec } from '../model/job.ts';
import { MAX_DURATION_MS } from '../model/duration.ts';
import { MAX_ATTEMPT_LIMIT, MAX_RETRY_MULTIPLIER } from './job-settings.ts';

/** Attempts before a job fails for good, as in JobReactor. */
export const DEFAULT_MAX_ATTEMPT = 10;
/** JobReactor's retry rule: wait attempt × this many seconds. */
export const DEFAULT_RETRY_MULTIPLIER = 5;

/**
 * A node-side backoff: the delay in ms before the next attempt, given the attempt that just
 * failed (1-based) and its error.
 */
export type BackoffFunction = (attempt: number, error: ErrorInfo | undefined) => number;

export interface RetryDelayInput {
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** Seconds per attempt for the default rule. @default DEFAULT_RETRY_MULTIPLIER (5) */
  retryMultiplier?: number | undefined;
  /** A rule that replaces the default one. */
  backoff?: BackoffSpec | BackoffFunction | undefined;
  /** The failure, for a function backoff. */
  error?: ErrorInfo | undefined;
  /** Source of jitter, 0 ≤ r < 1. @default Math.random */
  random?: (() => number) | undefined;
}

/**
 * Milliseconds to wait before the next attempt (whole ms, capped at MAX_DURATION_MS):
 * - default (JobReactor): `attempt × retryMultiplier` seconds (5, 10, 15 … s; 0 → at once);
 * - `fixed`: `delay`; `linear`: `attempt × delay`;
 * - `exponential`: `delay × 2^(attempt−1)`, capped by `maxDelay`, then reduced by up to
 *   `jitter` of itself: `d × (1 − jitter × random())`;
 * - a function: its result, which must be a finite number ≥ 0.
 *
 * @throws InvalidArgumentError for a bad attempt, multiplier, spec or function result.
 */
export function retryDelay(input: RetryDelayInput): number {
  const { attempt, backoff } = input;
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1) {
    throw new InvalidArgumentError(`attempt must be a whole number ≥ 1 (got ${String(attempt)})`);
  }
  if (backoff === undefined) {
    const multiplier = validateRetryMultiplier(input.retryMultiplier ?? DEFAULT_RETRY_MULTIPLIER);
    return finish(attempt * multiplier * 1000);
  }
  if (typeof backoff === 'function') {
    let result: unknown;
    try {
      result = backoff(attempt, input.error);
    } catch (cause) {
      throw new InvalidArgumentError('backoff function threw', { cause });
    }
    if (typeof result !== 'number' || !Number.isFinite(result) || result < 0) {
      throw new InvalidArgumentError(
        `backoff function must return a finite number of ms ≥ 0 (got ${shown(result)} for attempt ${attempt})`,
      );
    }
    return finish(result);
  }
  const spec = validateBackoff(backoff);
  switch (spec.type) {
    case 'fixed':
      return finish(spec.delay);
    case 'linear':
      return finish(attempt * spec.delay);
    case 'exponential': {
      // 2^(attempt−1) overflows to Infinity for huge attempts; the caps below absorb that.
      let delay = spec.delay * 2 ** (attempt - 1);
      if (spec.maxDelay !== undefined) delay = Math.min(delay, spec.maxDelay);
      delay = Math.min(delay, MAX_DURATION_MS);
      const jitter = spec.jitter ?? 0;
      if (jitter > 0) {
        const r = (input.random ?? Math.random)();
        const clamped = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
        delay *= 1 - jitter * clamped;
      }
      return finish(delay);
    }
  }
}

/** A bad value as it appears in an error message. */
function shown(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function finish(ms: number): number {
  return Math.round(Math.min(ms, MAX_DURATION_MS));
}

const KNOWN_KEYS: Record<BackoffSpec['type'], readonly string[]> = {
  fixed: ['type', 'delay'],
  linear: ['type', 'delay'],
  exponential: ['type', 'delay', 'maxDelay', 'jitter'],
};

function msField(value: unknown, what: string): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    value > MAX_DURATION_MS
  ) {
    throw new InvalidArgumentError(`${what} must be a number of ms ≥ 0 (got ${shown(value)})`);
  }
  return value;
}

/**
 * Checks a backoff spec at enqueue time (or off the wire) and returns a clean copy with only
 * the known fields. Unknown fields are rejected, so a typo (`maxdelay`) is not silently ignored.
 *
 * @throws InvalidArgumentError when it is not a valid BackoffSpec.
 */
export function validateBackoff(spec: unknown): BackoffSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new InvalidArgumentError(
      'backoff must be an object like { type: "exponential", delay: 1000 }',
    );
  }
  const s = spec as Record<string, unknown>;
  const type = s.type;
  if (type !== 'fixed' && type !== 'linear' && type !== 'exponential') {
    throw new InvalidArgumentError(
      `backoff.type must be 'fixed', 'linear' or 'exponential' (got ${JSON.stringify(type) ?? 'undefined'})`,
    );
  }
  for (const key of Object.keys(s)) {
    if (!KNOWN_KEYS[type].includes(key)) {
      throw new InvalidArgumentError(`backoff of type '${type}' has an unknown field '${key}'`);
    }
  }
  const delay = msField(s.delay, 'backoff.delay');
  if (type !== 'exponential') return { type, delay };
  const out: Extract<BackoffSpec, { type: 'exponential' }> = { type, delay };
  if (s.maxDelay !== undefined) out.maxDelay = msField(s.maxDelay, 'backoff.maxDelay');
  if (s.jitter !== undefined) {
    const jitter = s.jitter;
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
      throw new InvalidArgumentError(
        `backoff.jitter must be a fraction 0..1 (got ${shown(jitter)})`,
      );
    }
    out.jitter = jitter;
  }
  return out;
}

/**
 * Checks a retry multiplier (seconds per attempt): a number from 0 to MAX_RETRY_MULTIPLIER.
 * Returns it.
 *
 * @throws InvalidArgumentError otherwise.
 */
export function validateRetryMultiplier(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_RETRY_MULTIPLIER)) {
    throw new InvalidArgumentError(
      `retryMultiplier must be a number of seconds from 0 to ${MAX_RETRY_MULTIPLIER} (got ${shown(value)})`,
    );
  }
  return value;
}

/**
 * Checks a max attempt count: a whole number from 1 to MAX_ATTEMPT_LIMIT. Returns it.
 *
 * @throws InvalidArgumentError otherwise.
 */
export function validateMaxAttempt(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 1 ||
    value > MAX_ATTEMPT_LIMIT
  ) {
    throw new InvalidArgumentError(
      `maxAttempt must be a whole number from 1 to ${MAX_ATTEMPT_LIMIT} (got ${shown(value)})`,
    );
  }
  return value;
}

/** True when a job whose `attempt`-th attempt just failed gets another one. */
export function shouldRetry(attempt: number, maxAttempt: number = DEFAULT_MAX_ATTEMPT): boolean {
  return attempt < maxAttempt;
}
