import { describe, expect, it } from 'vitest';
import { ReadyQueue, type ReadyEntry } from '../../../src/node/lifecycle/ready-queue.ts';
import type { JobRecord } from '../../../src/model/job.ts';

const entry = (id: string, distributor?: string): ReadyEntry =>
  distributor === undefined ? { id } : { id, record: { id, distributor } as JobRecord };

const drain = (q: ReadyQueue) => {
  const out: string[] = [];
  for (let e = q.take(); e !== undefined; e = q.take()) out.push(e.id);
  return out;
};

describe('ready queue', () => {
  it('ready queue - one distributor: first in, first out', () => {
    const q = new ReadyQueue();
    for (const id of ['a', 'b', 'c']) q.push(entry(id, 'd1'));
    expect(q.size).toBe(3);
    expect(drain(q)).toEqual(['a', 'b', 'c']);
    expect(q.size).toBe(0);
  });

  it('ready queue - distributors take turns, each in its own order', () => {
    const q = new ReadyQueue();
    for (let i = 0; i < 4; i++) q.push(entry(`a${i}`, 'A'));
    for (let i = 0; i < 2; i++) q.push(entry(`b${i}`, 'B'));
    q.push(entry('x0')); // loaded by id: a lane of its own
    expect(drain(q)).toEqual(['a0', 'b0', 'x0', 'a1', 'b1', 'a2', 'a3']);
  });

  it('ready queue - remove leaves a hole that take skips; has, values and size follow', () => {
    const q = new ReadyQueue();
    for (const id of ['a', 'b', 'c']) q.push(entry(id, 'A'));
    q.push(entry('z', 'B'));
    expect(q.remove('b')?.id).toBe('b');
    expect(q.remove('b')).toBeUndefined();
    expect(q.has('b')).toBe(false);
    expect(q.has('c')).toBe(true);
    expect([...q.values()].map((e) => e.id).sort()).toEqual(['a', 'c', 'z']);
    expect(q.size).toBe(3);
    expect(drain(q)).toEqual(['a', 'z', 'c']);
  });

  it('ready queue - a lane emptied by removals and refilled is served once, in order', () => {
    const q = new ReadyQueue();
    q.push(entry('a', 'A'));
    q.remove('a');
    q.push(entry('b', 'A'));
    q.push(entry('c', 'B'));
    q.push(entry('d', 'A'));
    expect(drain(q)).toEqual(['b', 'c', 'd']);
    q.push(entry('e', 'A'));
    expect(drain(q)).toEqual(['e']);
  });

  it('ready queue - an entry pushed again after removal is the live one', () => {
    const q = new ReadyQueue();
    const first = entry('a', 'A');
    q.push(first);
    q.remove('a');
    const again = entry('a', 'A');
    q.push(again);
    expect(q.take()).toBe(again);
    expect(q.take()).toBeUndefined();
  });

  it('ready queue - the same id pushed twice is queued once, as the newer entry', () => {
    const q = new ReadyQueue();
    q.push(entry('a', 'A'));
    const newer = entry('a', 'A');
    q.push(newer);
    expect(q.size).toBe(1);
    expect(q.take()).toBe(newer);
    expect(q.take()).toBeUndefined();
  });

  it('ready queue - clear forgets everything', () => {
    const q = new ReadyQueue();
    q.push(entry('a', 'A'));
    q.push(entry('b', 'B'));
    q.clear();
    expect(q.size).toBe(0);
    expect(q.take()).toBeUndefined();
  });
});

describe('ready queue - priorities', () => {
  const prioritized = (id: string, priority: number | undefined, distributor = 'A'): ReadyEntry =>
    priority === undefined
      ? { id, record: { id, distributor } as JobRecord }
      : { id, record: { id, distributor, priority } as JobRecord };

  it('ready queue - higher priority first (none, then 1, 2, 3), FIFO within one', () => {
    const q = new ReadyQueue();
    const order = [3, 1, 2, 2, 1, 3, 1, undefined, 2, 3];
    order.forEach((p, i) => q.push(prioritized(`${p ?? 0}-${i}`, p)));
    expect(drain(q)).toEqual([
      '0-7',
      '1-1',
      '1-4',
      '1-6',
      '2-2',
      '2-3',
      '2-8',
      '3-0',
      '3-5',
      '3-9',
    ]);
  });

  it('ready queue - a timer entry carries its priority without a record', () => {
    const q = new ReadyQueue();
    q.push(prioritized('low', 9));
    q.push({ id: 'timer', priority: 1 });
    expect(drain(q)).toEqual(['timer', 'low']);
  });

  it('ready queue - distributors take turns within a priority, never across one', () => {
    const q = new ReadyQueue();
    q.push(prioritized('a-low', 2, 'A'));
    q.push(prioritized('a1', 1, 'A'));
    q.push(prioritized('a2', 1, 'A'));
    q.push(prioritized('b1', 1, 'B'));
    q.push(prioritized('b-low', 2, 'B'));
    expect(drain(q)).toEqual(['a1', 'b1', 'a2', 'a-low', 'b-low']);
  });

  it('ready queue - removing the last of a priority, then pushing it again', () => {
    const q = new ReadyQueue();
    q.push(prioritized('x', 1));
    q.push(prioritized('y', 2));
    q.remove('x');
    expect(q.take()?.id).toBe('y');
    q.push(prioritized('z', 1));
    q.push(prioritized('w', 2));
    expect(drain(q)).toEqual(['z', 'w']);
    expect(q.size).toBe(0);
  });
});
