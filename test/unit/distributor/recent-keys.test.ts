import { describe, expect, it } from 'vitest';
import { RecentKeys } from '../../../src/distributor/recent-keys.ts';

describe('recent keys', () => {
  it('recent keys - remembers the last `capacity` keys, oldest out first', () => {
    const keys = new RecentKeys(3);
    for (const k of ['a', 'b', 'c']) keys.add(k);
    expect(['a', 'b', 'c'].map((k) => keys.has(k))).toEqual([true, true, true]);
    keys.add('d');
    expect(['a', 'b', 'c', 'd'].map((k) => keys.has(k))).toEqual([false, true, true, true]);
    // Adding a key it holds changes nothing: 'b' is still the oldest.
    keys.add('c');
    keys.add('e');
    expect(['b', 'c', 'd', 'e'].map((k) => keys.has(k))).toEqual([false, true, true, true]);
  });

  it('recent keys - stays exact over many laps of the ring', () => {
    const keys = new RecentKeys(100);
    for (let i = 0; i < 10_050; i++) keys.add(`k${i}`);
    expect(keys.has('k9949')).toBe(false);
    expect(keys.has('k9950')).toBe(true);
    expect(keys.has('k10049')).toBe(true);
  });
});
