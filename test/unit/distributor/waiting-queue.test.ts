import { describe, expect, it } from 'vitest';
import { WaitingQueue } from '../../../src/distributor/waiting-queue.ts';
import type { TrackedJob } from '../../../src/distributor/tracked-job.ts';

/** Just what the queue reads of a tracked job: its spec's id and priority. */
const job = (id: string, priority?: number): TrackedJob =>
  ({ spec: priority === undefined ? { id } : { id, priority } }) as unknown as TrackedJob;

const ids = (jobs: readonly TrackedJob[]) => jobs.map((j) => j.spec.id);

/** Drains everything, placing each job. */
function drainAll(q: WaitingQueue): string[] {
  const out: string[] = [];
  q.drain((j) => {
    out.push(j.spec.id);
    return 'placed';
  });
  return out;
}

describe('waiting queue', () => {
  it('waiting queue - without priorities: first in, first out', () => {
    const q = new WaitingQueue(10);
    for (const id of ['a', 'b', 'c']) q.push(job(id));
    expect(q.size).toBe(3);
    expect(drainAll(q)).toEqual(['a', 'b', 'c']);
    expect(q.size).toBe(0);
  });

  it('waiting queue - by priority (none first, then 1, 2, 3), each in arrival order', () => {
    const q = new WaitingQueue(100);
    const pushed = ['3a', '1a', 'xa', '2a', '3b', '1b', 'xb', '2b'];
    for (const id of pushed) q.push(job(id, id[0] === 'x' ? undefined : Number(id[0])));
    expect(q.size).toBe(8);
    expect(drainAll(q)).toEqual(['xa', 'xb', '1a', '1b', '2a', '2b', '3a', '3b']);
  });

  it('waiting queue - kept jobs stay in place, stop ends the pass, size follows', () => {
    const q = new WaitingQueue(100);
    for (const [id, p] of [
      ['a', 1],
      ['b', 1],
      ['c', 2],
      ['d', 3],
    ] as const)
      q.push(job(id, p));
    q.drain((j) => (j.spec.id === 'a' ? 'kept' : j.spec.id === 'c' ? 'stop' : 'placed'));
    expect(q.size).toBe(3); // b placed
    expect(drainAll(q)).toEqual(['a', 'c', 'd']);
  });

  it('waiting queue - unshiftAll puts jobs first within their priority; remove and takeAll', () => {
    const q = new WaitingQueue(100);
    q.push(job('n1', 2));
    q.push(job('n2', 1));
    q.unshiftAll([job('back1', 2), job('back2', 1), job('back3')]);
    expect(q.size).toBe(5);
    expect(q.remove(job('nope'))).toBe(false);
    const n2 = job('n2', 1);
    expect(q.remove(n2)).toBe(false); // another object with that id: not this queue's
    expect(ids(q.takeAll())).toEqual(['back3', 'back2', 'n2', 'back1', 'n1']);
    expect(q.size).toBe(0);
  });

  it('waiting queue - takeAll of 300k jobs, in one priority and in two, keeps order (no stack overflow)', () => {
    for (const levels of [1, 2]) {
      const q = new WaitingQueue(1_000_000);
      const n = 300_000;
      for (let i = 0; i < n; i++) q.push(job(`j${i}`, levels === 1 ? 0 : i % 2));
      const all = q.takeAll();
      expect(all.length).toBe(n);
      expect(q.size).toBe(0);
      // Priority 0 first, then 1, each in push order.
      expect(all[0]!.spec.id).toBe('j0');
      expect(all[1]!.spec.id).toBe(levels === 1 ? 'j1' : 'j2');
      expect(all[n / 2]!.spec.id).toBe(levels === 1 ? `j${n / 2}` : 'j1');
      expect(all[n - 1]!.spec.id).toBe(`j${n - 1}`);
    }
  });

  it('waiting queue - full at the limit; remove frees a place', () => {
    const q = new WaitingQueue(2);
    const a = job('a', 5);
    q.push(a);
    q.push(job('b'));
    expect(q.full).toBe(true);
    expect(q.remove(a)).toBe(true);
    expect(q.full).toBe(false);
    expect(drainAll(q)).toEqual(['b']);
  });
});
