import { describe, expect, it } from 'vitest';
import { ArrayFifo } from '../../../src/model/array-fifo.ts';

describe('ArrayFifo', () => {
  it('array fifo - first in, first out; empty gives undefined', () => {
    const q = new ArrayFifo<number>();
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
    q.push(1);
    q.push(2);
    expect(q.size).toBe(2);
    expect(q.peek()).toBe(1);
    expect(q.shift()).toBe(1);
    q.push(3);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([2, 3, undefined]);
    expect(q.size).toBe(0);
  });

  it('array fifo - order holds across the compaction of a long consumed front', () => {
    const q = new ArrayFifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      q.push(i);
      if (i % 3 !== 0) out.push(q.shift()!);
    }
    while (q.size > 0) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('array fifo - filter keeps the accepted items in order; clear empties', () => {
    const q = new ArrayFifo<number>();
    for (let i = 0; i < 10; i++) q.push(i);
    q.shift();
    q.filter((n) => n % 2 === 0);
    expect(q.size).toBe(4);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([2, 4, 6, 8]);
    q.push(7);
    q.clear();
    expect(q.size).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});
