import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/scheduling/rate-limiter.ts';

describe('rate limiter (sliding window)', () => {
  it('rate limiter - max takes in any window; the wait is until the oldest leaves it', () => {
    const l = new RateLimiter({ max: 3, duration: 1000 });
    for (const t of [0, 100, 200]) {
      expect(l.wait(t)).toBe(0);
      l.take(t);
    }
    expect(l.wait(300)).toBe(700); // the take at 0 leaves the window at 1000
    expect(l.wait(1000)).toBe(0);
    l.take(1000);
    expect(l.wait(1000)).toBe(100); // now the one at 100 is the oldest
    // Never more than max in any window of `duration`, however the takes fall.
    const times = [0, 100, 200, 1000];
    for (let t = 1000; t < 5000; t += 7) {
      if (l.wait(t) === 0) {
        l.take(t);
        times.push(t);
      }
    }
    for (let i = 3; i < times.length; i++)
      expect(times[i]! - times[i - 3]!).toBeGreaterThanOrEqual(1000);
  });

  it('rate limiter - bad limits are typed errors naming the field', () => {
    expect(() => new RateLimiter({ max: 0, duration: 1000 })).toThrow(/limiter.max must be/);
    expect(() => new RateLimiter({ max: 1.5, duration: 1000 })).toThrow(/limiter.max must be/);
    expect(() => new RateLimiter({ max: 1, duration: 0 })).toThrow(/limiter.duration must be/);
    expect(() => new RateLimiter({ max: 1, duration: Number.NaN }, 'limits.x')).toThrow(
      /limits.x.duration must be/,
    );
    expect(() => new RateLimiter({ max: 1, duration: 1, per: 2 } as never)).toThrow(
      /unknown limiter option 'per'/,
    );
    expect(() => new RateLimiter(null as never)).toThrow(/limiter must be/);
  });
});
