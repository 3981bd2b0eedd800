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
