import { describe, expect, it } from 'vitest';
import { RecentFeedbacks } from '../../../src/distributor/recent-feedbacks.ts';

describe('recent feedbacks - one node', () => {
  it('recent feedbacks - remembers a node’s last `outbox` keys, oldest out first', () => {
    const keys = new RecentFeedbacks();
    keys.opened('n', 3);
    for (const k of ['a', 'b', 'c']) keys.add('n', k);
    expect(['a', 'b', 'c'].map((k) => keys.has(k))).toEqual([true, true, true]);
    keys.add('n', 'd');
    expect(['a', 'b', 'c', 'd'].map((k) => keys.has(k))).toEqual([false, true, true, true]);
    // Adding a key it holds changes nothing: 'b' is still the oldest.
    keys.add('n', 'c');
    keys.add('n', 'e');
    expect(['b', 'c', 'd', 'e'].map((k) => keys.has(k))).toEqual([false, true, true, true]);
  });

  it('recent feedbacks - stays exact over many laps of the ring', () => {
    const keys = new RecentFeedbacks();
    keys.opened('n', 100);
    for (let i = 0; i < 10_050; i++) keys.add('n', `k${i}`);
    expect(keys.has('k9949')).toBe(false);
    expect(keys.has('k9950')).toBe(true);
    expect(keys.has('k10049')).toBe(true);
    expect(keys.size).toBe(100);
  });
});

describe('recent feedbacks', () => {
  it('recent feedbacks - each node keeps its own last `outbox` keys, whatever the others send', () => {
    const seen = new RecentFeedbacks();
    seen.opened('slow', 2);
    seen.opened('fast', 3);
    seen.add('slow', 's1');
    seen.add('slow', 's2');
    for (let i = 0; i < 1000; i++) seen.add('fast', `f${i}`);
    // One ring for all would have forgotten the slow node's keys long ago.
    expect(['s1', 's2'].map((k) => seen.has(k))).toEqual([true, true]);
    expect(['f996', 'f997', 'f998', 'f999'].map((k) => seen.has(k))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    seen.add('slow', 's3');
    expect(['s1', 's2', 's3'].map((k) => seen.has(k))).toEqual([false, true, true]);
    expect(seen.size).toBe(5);
  });

  it('recent feedbacks - a key known from any node is not remembered twice; has() looks in every ring', () => {
    const seen = new RecentFeedbacks();
    seen.opened('a', 2);
    seen.opened('b', 2);
    seen.add('a', 'k'); // a node that died; its outbox is adopted by b, which sends k again
    expect(seen.has('k')).toBe(true);
    seen.add('b', 'k');
    seen.add('b', 'x');
    seen.add('b', 'y');
    expect(seen.has('k')).toBe(true); // still a's, not pushed out by b's keys
  });

  it('recent feedbacks - a gone node keeps its ring across a reconnect, a larger outbox grows it', () => {
    const seen = new RecentFeedbacks();
    seen.opened('n', 2);
    seen.add('n', 'k1');
    seen.add('n', 'k2');
    seen.closed('n');
    expect(seen.has('k1')).toBe(true);
    seen.opened('n', 3); // back, with a larger outbox: the old keys stay, oldest first
    seen.add('n', 'k3');
    expect(['k1', 'k2', 'k3'].map((k) => seen.has(k))).toEqual([true, true, true]);
    seen.add('n', 'k4');
    expect(['k1', 'k2', 'k3', 'k4'].map((k) => seen.has(k))).toEqual([false, true, true, true]);
    // A name with no session: nothing is remembered for it.
    seen.add('stranger', 'z');
    expect(seen.has('z')).toBe(false);
  });

  it('recent feedbacks - only the most recently gone names keep their rings', () => {
    const seen = new RecentFeedbacks();
    const max = RecentFeedbacks.MAX_IDLE_RINGS;
    for (let i = 0; i <= max; i++) {
      seen.opened(`n${i}`, 1);
      seen.add(`n${i}`, `k${i}`);
    }
    seen.opened('n0', 1); // n0 has two sessions now: one closing leaves it connected
    seen.closed('n0');
    for (let i = 1; i <= max; i++) seen.closed(`n${i}`);
    expect(seen.has('k0')).toBe(true);
    expect(seen.has('k1')).toBe(true); // max gone names: all kept
    seen.closed('n0'); // one more gone: the longest gone (n1) goes with its keys
    expect(seen.has('k1')).toBe(false);
    expect(seen.has('k2')).toBe(true);
    expect(seen.has('k0')).toBe(true);
    // A hostile hello cannot make a ring larger than MAX_RING.
    seen.opened('huge', 1e12);
    seen.add('huge', 'h');
    expect(seen.has('h')).toBe(true);
  });
});
