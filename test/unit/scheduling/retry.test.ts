import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, type ErrorInfo } from '../../../src/errors.ts';
import { MAX_DURATION_MS } from '../../../src/model/duration.ts';
import type { BackoffSpec } from '../../../src/model/job.ts';
import {
  DEFAULT_MAX_ATTEMPT,
  DEFAULT_RETRY_MULTIPLIER,
  retryDelay,
  shouldRetry,
  validateBackoff,
  validateMaxAttempt,
  validateRetryMultiplier,
} from '../../../src/scheduling/retry.ts';

const attempts = [1, 2, 3, 4, 5];
const fixedRandom = () => 0.5;

function delays(backoff: BackoffSpec, random = fixedRandom): number[] {
  return attempts.map((attempt) => retryDelay({ attempt, backoff, random }));
}

describe('retryDelay', () => {
  it('retry - JobReactor default: attempt × 5 s, ten attempts', () => {
    expect(DEFAULT_RETRY_MULTIPLIER).toBe(5);
    expect(DEFAULT_MAX_ATTEMPT).toBe(10);
    const waits = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((attempt) => retryDelay({ attempt }));
    expect(waits).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45].map((s) => s * 1000));
    expect(waits.reduce((a, b) => a + b)).toBe(225_000);
  });

  it('retry - retryMultiplier scales the default rule; 0 retries at once', () => {
    expect(attempts.map((attempt) => retryDelay({ attempt, retryMultiplier: 0 }))).toEqual([
      0, 0, 0, 0, 0,
    ]);
    expect(attempts.map((attempt) => retryDelay({ attempt, retryMultiplier: 2 }))).toEqual([
      2000, 4000, 6000, 8000, 10_000,
    ]);
    expect(retryDelay({ attempt: 3, retryMultiplier: 0.25 })).toBe(750);
    expect(retryDelay({ attempt: 3, retryMultiplier: undefined })).toBe(15_000);
  });

  it('retry - fixed', () => {
    expect(delays({ type: 'fixed', delay: 1500 })).toEqual([1500, 1500, 1500, 1500, 1500]);
  });

  it('retry - linear', () => {
    expect(delays({ type: 'linear', delay: 1500 })).toEqual([1500, 3000, 4500, 6000, 7500]);
  });

  it('retry - exponential, uncapped', () => {
    expect(delays({ type: 'exponential', delay: 1000 })).toEqual([1000, 2000, 4000, 8000, 16_000]);
  });

  it('retry - exponential, capped by maxDelay', () => {
    expect(delays({ type: 'exponential', delay: 1000, maxDelay: 5000 })).toEqual([
      1000, 2000, 4000, 5000, 5000,
    ]);
  });

  it('retry - exponential with jitter takes up to that fraction off', () => {
    const spec: BackoffSpec = { type: 'exponential', delay: 1000, maxDelay: 5000, jitter: 0.5 };
    expect(delays(spec, () => 0.5)).toEqual([750, 1500, 3000, 3750, 3750]);
    expect(delays(spec, () => 0)).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(delays({ type: 'exponential', delay: 1000, jitter: 1 }, () => 0.999)).toEqual([
      1, 2, 4, 8, 16,
    ]);
    // A random source out of range is clamped rather than producing a negative delay.
    expect(delays(spec, () => 7)).toEqual([500, 1000, 2000, 2500, 2500]);
  });

  it('retry - jitter uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 100; i++) {
      const d = retryDelay({
        attempt: 3,
        backoff: { type: 'exponential', delay: 1000, jitter: 0.3 },
      });
      expect(d).toBeGreaterThanOrEqual(2800);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('retry - a huge attempt never yields Infinity', () => {
    expect(retryDelay({ attempt: 5000, backoff: { type: 'exponential', delay: 1000 } })).toBe(
      MAX_DURATION_MS,
    );
    expect(
      retryDelay({
        attempt: 5000,
        backoff: { type: 'exponential', delay: 1000, maxDelay: 60_000 },
      }),
    ).toBe(60_000);
  });

  it('retry - a function backoff sees the attempt and the error', () => {
    const error: ErrorInfo = { name: 'TimeoutError', code: 'JR_ERR_TIMEOUT', message: 'slow' };
    const seen: [number, ErrorInfo | undefined][] = [];
    const backoff = (attempt: number, e: ErrorInfo | undefined) => {
      seen.push([attempt, e]);
      return attempt * 100 + 0.4;
    };
    expect(attempts.map((attempt) => retryDelay({ attempt, backoff, error }))).toEqual([
      100, 200, 300, 400, 500,
    ]);
    expect(seen[0]).toEqual([1, error]);
  });

  it.each([[Number.NaN], [-1], [Infinity], ['5'], [undefined]])(
    'retry - a function backoff returning %j is rejected',
    (value) => {
      expect(() => retryDelay({ attempt: 1, backoff: () => value as number })).toThrow(
        InvalidArgumentError,
      );
    },
  );

  it('retry - a throwing function backoff becomes an InvalidArgumentError with the cause', () => {
    const cause = new RangeError('nope');
    try {
      retryDelay({
        attempt: 1,
        backoff: () => {
          throw cause;
        },
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).cause).toBe(cause);
    }
  });

  it.each([[0], [-1], [1.5], [Number.NaN]])('retry - attempt %j is rejected', (attempt) => {
    expect(() => retryDelay({ attempt })).toThrow(InvalidArgumentError);
  });

  it.each([[-1], [Number.NaN], [Infinity]])(
    'retry - retryMultiplier %j is rejected',
    (retryMultiplier) => {
      expect(() => retryDelay({ attempt: 1, retryMultiplier })).toThrow(InvalidArgumentError);
    },
  );
});

describe('validateBackoff', () => {
  it('retry - valid specs come back as clean copies', () => {
    expect(validateBackoff({ type: 'fixed', delay: 0 })).toEqual({ type: 'fixed', delay: 0 });
    expect(validateBackoff({ type: 'linear', delay: 500 })).toEqual({ type: 'linear', delay: 500 });
    const spec = { type: 'exponential', delay: 1000, maxDelay: 60_000, jitter: 1 };
    const copy = validateBackoff(spec);
    expect(copy).toEqual(spec);
    expect(copy).not.toBe(spec);
    expect(validateBackoff({ type: 'exponential', delay: 1000, maxDelay: undefined })).toEqual({
      type: 'exponential',
      delay: 1000,
    });
  });

  it.each([
    [undefined],
    [null],
    ['exponential'],
    [[]],
    [{}],
    [{ type: 'polynomial', delay: 1 }],
    [{ type: 'fixed' }],
    [{ type: 'fixed', delay: -1 }],
    [{ type: 'fixed', delay: Number.NaN }],
    [{ type: 'fixed', delay: '1000' }],
    [{ type: 'linear', delay: Infinity }],
    [{ type: 'fixed', delay: 1, jitter: 0.5 }],
    [{ type: 'exponential', delay: 1, maxdelay: 10 }],
    [{ type: 'exponential', delay: 1, maxDelay: -1 }],
    [{ type: 'exponential', delay: 1, jitter: 1.5 }],
    [{ type: 'exponential', delay: 1, jitter: -0.1 }],
    [{ type: 'exponential', delay: 1, jitter: Number.NaN }],
  ])('retry - backoff %j is rejected', (spec) => {
    expect(() => validateBackoff(spec)).toThrow(InvalidArgumentError);
  });

  it('retry - retryDelay checks a spec it is given', () => {
    expect(() => retryDelay({ attempt: 1, backoff: { type: 'fixed', delay: -5 } })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('retry helpers', () => {
  it('retry - validateMaxAttempt, validateRetryMultiplier and shouldRetry', () => {
    expect(validateMaxAttempt(1)).toBe(1);
    expect(() => validateMaxAttempt(0)).toThrow(InvalidArgumentError);
    expect(() => validateMaxAttempt(2.5)).toThrow(InvalidArgumentError);
    expect(validateRetryMultiplier(0)).toBe(0);
    expect(() => validateRetryMultiplier(-1)).toThrow(InvalidArgumentError);
    expect(shouldRetry(9)).toBe(true);
    expect(shouldRetry(10)).toBe(false);
    expect(shouldRetry(1, 1)).toBe(false);
    expect(shouldRetry(1, 2)).toBe(true);
  });
});
