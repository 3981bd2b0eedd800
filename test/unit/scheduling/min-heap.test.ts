import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../../src/scheduling/min-heap.ts';

interface Item {
  value: number;
  id: number;
  index: number;
}

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('MinHeap', () => {
  it('min-heap - random push, pop, removeAt and update agree with a sorted list', () => {
    const random = seeded(7);
    const heap = new MinHeap<Item>({
      compare: (a, b) => a.value - b.value || a.id - b.id,
      onMove: (item, index) => {
        item.index = index;
      },
    });
    const live = new Map<number, Item>();
    let nextId = 0;
    for (let step = 0; step < 20_000; step++) {
      const op = random();
      if (op < 0.45 || live.size === 0) {
        const item = { value: Math.floor(random() * 1000), id: nextId++, index: -1 };
        heap.push(item);
        live.set(item.id, item);
      } else if (op < 0.65) {
        const expected = [...live.values()].reduce((m, i) =>
          (i.value - m.value || i.id - m.id) < 0 ? i : m,
        );
        const popped = heap.pop()!;
        expect(popped).toBe(expected);
        expect(popped.index).toBe(-1);
        live.delete(popped.id);
      } else if (op < 0.85) {
        const ids = [...live.keys()];
        const victim = live.get(ids[Math.floor(random() * ids.length)]!)!;
        expect(heap.at(victim.index)).toBe(victim);
        expect(heap.removeAt(victim.index)).toBe(victim);
        expect(victim.index).toBe(-1);
        live.delete(victim.id);
      } else {
        const ids = [...live.keys()];
        const item = live.get(ids[Math.floor(random() * ids.length)]!)!;
        item.value = Math.floor(random() * 1000);
        heap.update(item.index);
      }
      expect(heap.size).toBe(live.size);
    }
    for (const item of live.values()) expect(heap.at(item.index)).toBe(item);
    const drained: Item[] = [];
    for (let item = heap.pop(); item; item = heap.pop()) drained.push(item);
    const sorted = [...live.values()].sort((a, b) => a.value - b.value || a.id - b.id);
    expect(drained).toEqual(sorted);
  });

  it('min-heap - empty heap, out-of-range indexes and clear', () => {
    const moved: [number, number][] = [];
    const heap = new MinHeap<number>({
      compare: (a, b) => a - b,
      onMove: (item, index) => moved.push([item, index]),
    });
    expect(heap.peek()).toBeUndefined();
    expect(heap.pop()).toBeUndefined();
    expect(heap.removeAt(3)).toBeUndefined();
    heap.update(5);
    heap.push(3);
    heap.push(1);
    heap.push(2);
    expect(heap.peek()).toBe(1);
    expect(heap.toArray().sort()).toEqual([1, 2, 3]);
    moved.length = 0;
    heap.clear();
    expect(heap.size).toBe(0);
    expect(moved.map(([, i]) => i)).toEqual([-1, -1, -1]);
  });

  it('min-heap - works without onMove', () => {
    const heap = new MinHeap<number>({ compare: (a, b) => b - a });
    for (const n of [5, 9, 1, 7]) heap.push(n);
    expect([heap.pop(), heap.pop(), heap.pop(), heap.pop(), heap.pop()]).toEqual([
      9,
      7,
      5,
      1,
      undefined,
    ]);
  });
});
