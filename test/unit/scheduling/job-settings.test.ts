import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, MIN_PERIOD_MS } from '../../../src/model/duration.ts';
import {
  MAX_ATTEMPT_LIMIT,
  MAX_RETRY_MULTIPLIER,
  jobSettingsProblem,
  type JobSettings,
} from '../../../src/scheduling/job-settings.ts';
import { validateMaxAttempt, validateRetryMultiplier } from '../../../src/scheduling/retry.ts';

const NOW = Date.UTC(2026, 0, 1);
const base: JobSettings = { enqueuedAt: NOW, runAt: NOW };

/** The field named by the problem with `extra` added to a valid one-shot job, or undefined. */
function field(extra: Record<string, unknown>): string | undefined {
  return jobSettingsProblem({ ...base, ...extra })?.field;
}

describe('job-settings - jobSettingsProblem', () => {
  it('job-settings - a plain one-shot job, and every setting at its bounds, pass', () => {
    expect(jobSettingsProblem(base)).toBeUndefined();
    const ok: Record<string, unknown>[] = [
      { enqueuedAt: 0, runAt: 0 },
      { enqueuedAt: MAX_DURATION_MS, runAt: MAX_DURATION_MS },
      { period: MIN_PERIOD_MS },
      { period: MAX_DURATION_MS },
      { cron: '*/5 * * * *' },
      { cron: '0 9 * * 1', tz: 'Europe/Paris' },
      { maxAttempt: 1 },
      { maxAttempt: MAX_ATTEMPT_LIMIT },
      { retryMultiplier: 0 },
      { retryMultiplier: MAX_RETRY_MULTIPLIER },
      { backoff: { type: 'fixed', delay: 0 } },
      { backoff: { type: 'linear', delay: MAX_DURATION_MS } },
      { backoff: { type: 'exponential', delay: 1, maxDelay: MAX_DURATION_MS, jitter: 1 } },
      { backoff: { type: 'exponential', delay: 1, maxDelay: 0, jitter: 0 } },
      { timeout: 1 },
      { timeout: MAX_DURATION_MS },
    ];
    for (const extra of ok) expect(field(extra), JSON.stringify(extra)).toBeUndefined();
  });

  it('job-settings - enqueuedAt and runAt stay within the Date range', () => {
    for (const key of ['enqueuedAt', 'runAt']) {
      for (const bad of [-1, MAX_DURATION_MS + 1, NaN, Infinity, -Infinity, '1']) {
        expect(field({ [key]: bad }), `${key}=${String(bad)}`).toBe(key);
      }
    }
  });

  it('job-settings - period: at least MIN_PERIOD_MS, finite, in range, not with cron', () => {
    expect(MIN_PERIOD_MS).toBe(10);
    for (const bad of [1e-300, 0, -10, MIN_PERIOD_MS - 0.001, MAX_DURATION_MS + 1, NaN, Infinity]) {
      expect(field({ period: bad }), String(bad)).toBe('period');
    }
    expect(field({ period: 1000, cron: '* * * * *' })).toBe('cron');
    expect(jobSettingsProblem({ ...base, period: 1e-300 })?.message).toMatch(
      /^period must be at least 10 ms/,
    );
  });

  it('job-settings - cron must parse and match; tz must be a zone and only with cron', () => {
    expect(field({ cron: 'not a cron' })).toBe('cron');
    expect(field({ cron: '' })).toBe('cron');
    expect(field({ cron: 42 })).toBe('cron');
    expect(field({ cron: '0 0 31 2 *' })).toBe('cron'); // 31 February never comes
    expect(field({ cron: '* * * * *', tz: 'Mars/Olympus' })).toBe('tz');
    expect(field({ cron: '* * * * *', tz: 7 })).toBe('tz');
    expect(field({ tz: 'Europe/Paris' })).toBe('tz');
  });

  it('job-settings - maxAttempt: a whole number from 1 to MAX_ATTEMPT_LIMIT', () => {
    expect(MAX_ATTEMPT_LIMIT).toBe(10_000);
    for (const bad of [0, -1, 1.5, MAX_ATTEMPT_LIMIT + 1, 1e15, NaN, Infinity, '3']) {
      expect(field({ maxAttempt: bad }), String(bad)).toBe('maxAttempt');
    }
    expect(jobSettingsProblem({ ...base, maxAttempt: 1e15 })?.message).toBe(
      'maxAttempt must be a whole number from 1 to 10000 (got 1000000000000000)',
    );
  });

  it('job-settings - retryMultiplier: seconds from 0 to MAX_RETRY_MULTIPLIER', () => {
    for (const bad of [-0.001, MAX_RETRY_MULTIPLIER + 0.001, NaN, Infinity, '5']) {
      expect(field({ retryMultiplier: bad }), String(bad)).toBe('retryMultiplier');
    }
  });

  it('job-settings - backoff: known type, delays in range, jitter a fraction', () => {
    expect(field({ backoff: null })).toBe('backoff');
    expect(field({ backoff: { type: 'random', delay: 1 } })).toBe('backoff.type');
    for (const bad of [-1, MAX_DURATION_MS + 1, NaN, Infinity, undefined]) {
      expect(field({ backoff: { type: 'fixed', delay: bad } }), String(bad)).toBe('backoff.delay');
      expect(field({ backoff: { type: 'exponential', delay: 1, maxDelay: bad ?? -1 } })).toBe(
        'backoff.maxDelay',
      );
    }
    for (const bad of [-0.1, 1.1, NaN]) {
      expect(field({ backoff: { type: 'exponential', delay: 1, jitter: bad } })).toBe(
        'backoff.jitter',
      );
    }
  });

  it('job-settings - timeout: from 1 ms to MAX_DURATION_MS', () => {
    for (const bad of [0, 0.5, 1e-300, -1, MAX_DURATION_MS + 1, NaN, Infinity]) {
      expect(field({ timeout: bad }), String(bad)).toBe('timeout');
    }
  });

  it('job-settings - the node options share the bounds (validateMaxAttempt, validateRetryMultiplier)', () => {
    expect(validateMaxAttempt(MAX_ATTEMPT_LIMIT)).toBe(MAX_ATTEMPT_LIMIT);
    expect(() => validateMaxAttempt(MAX_ATTEMPT_LIMIT + 1)).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
    expect(validateRetryMultiplier(MAX_RETRY_MULTIPLIER)).toBe(MAX_RETRY_MULTIPLIER);
    expect(() => validateRetryMultiplier(MAX_RETRY_MULTIPLIER + 1)).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
  });
});
