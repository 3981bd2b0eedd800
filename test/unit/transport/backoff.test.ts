import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { reconnectDelay } from '../../../src/transport/backoff.ts';

describe('backoff', () => {
  it('backoff - bounds grow exponentially up to the cap', () => {
    const low = (a: number) => reconnectDelay(a, { random: () => 0 });
    const high = (a: number) => reconnectDelay(a, { random: () => 0.999999 });
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100, 1e9].map(low)).toEqual(Array(10).fill(100));
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100, 1e9].map(high)).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000,
    ]);
  });

  it('backoff - full jitter spreads delays across the range', () => {
    const seen = new Set<number>();
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let i = 0; i < 1000; i++) {
      const d = reconnectDelay(8, { random });
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(5000);
      seen.add(Math.floor(d / 500));
    }
    expect(seen.size).toBeGreaterThanOrEqual(10);
  });

  it('backoff - custom bounds, odd attempts, bad options', () => {
    expect(reconnectDelay(3, { minMs: 10, maxMs: 50, random: () => 1 })).toBe(50);
    expect(reconnectDelay(-3, { random: () => 1 })).toBe(200);
    expect(reconnectDelay(Number.NaN, { random: () => 1 })).toBe(200);
    expect(reconnectDelay(Number.POSITIVE_INFINITY, { random: () => 0.5 })).toBeLessThanOrEqual(
      5000,
    );
    expect(() => reconnectDelay(1, { minMs: 10, maxMs: 5 })).toThrow(InvalidArgumentError);
    expect(() => reconnectDelay(1, { minMs: -1 })).toThrow(InvalidArgumentError);
  });
});
