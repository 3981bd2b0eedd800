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

  it('waiting queue - remove at the front, middle and back, twice, and of another object', () => {
    const q = new WaitingQueue(100);
    const js = ['a', 'b', 'c', 'd', 'e'].map((id) => job(id));
    for (const j of js) q.push(j);
    expect(q.remove(js[0]!)).toBe(true);
    expect(q.remove(js[2]!)).toBe(true);
    expect(q.remove(js[4]!)).toBe(true);
    expect(q.remove(js[2]!)).toBe(false); // already out
    expect(q.remove(job('b'))).toBe(false); // same id, not this queue's object
    expect(q.size).toBe(2);
    expect(q.find('b')).toBe(js[1]);
    expect(q.find('c')).toBeUndefined();
    expect(drainAll(q)).toEqual(['b', 'd']);
    expect(q.remove(js[1]!)).toBe(false); // placed: gone
  });

  it('waiting queue - a job in one queue is not removed by another', () => {
    const a = new WaitingQueue(10);
    const b = new WaitingQueue(10);
    const x = job('x');
    b.push(job('y'));
    a.push(x);
    expect(b.remove(x)).toBe(false);
    expect(b.size).toBe(1);
    expect(a.remove(x)).toBe(true);
  });

  it('waiting queue - matches a plain array under 30k random pushes (up to thousands waiting), removes, drains, unshifts and takeAlls', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const q = new WaitingQueue(1_000_000);
    let model: TrackedJob[] = [];
    const byLevel = () =>
      [0, 1, 2].flatMap((p) => model.filter((j) => (j.spec.priority ?? 0) === p));
    let next = 0;
    for (let step = 0; step < 30_000; step++) {
      // Phases of 2,000 steps: mostly pushes (the line grows to thousands), mostly removes
      // (holes pile up and get dropped), then a mix with drains and takeAlls.
      const phase = Math.floor(step / 2000) % 3;
      const phases: [number, number, number, number][] = [
        [850, 1000, 1000, 1000],
        [100, 1000, 1000, 1000],
        [450, 800, 930, 998],
      ];
      const [push, remove, drain, unshift] = phases[phase]!;
      const op = rand(1000);
      if (op < push) {
        const j = job(`j${next++}`, rand(4) === 0 ? 1 + rand(2) : undefined);
        q.push(j);
        model.push(j);
      } else if (op < remove) {
        if (model.length === 0) continue;
        const j = model[rand(model.length)]!;
        expect(q.remove(j)).toBe(true);
        expect(q.remove(j)).toBe(false);
        model = model.filter((m) => m !== j);
      } else if (op < drain) {
        // Place some, keep some, stop somewhere: the model is the queue's order after it.
        const order = byLevel();
        const stopAt = rand(Math.min(order.length, 3000) + 1);
        const placed = new Set<TrackedJob>();
        let k = 0;
        q.drain((j) => {
          expect(j).toBe(order[k]);
          if (k++ === stopAt) return 'stop';
          if (rand(3) === 0) return 'kept';
          placed.add(j);
          return 'placed';
        });
        model = model.filter((m) => !placed.has(m));
      } else if (op < unshift) {
        const back = Array.from({ length: rand(5) }, () =>
          job(`b${next++}`, rand(3) === 0 ? 1 : undefined),
        );
        q.unshiftAll(back);
        model = [...back, ...model];
      } else {
        expect(q.takeAll()).toEqual(byLevel());
        model = [];
      }
      expect(q.size).toBe(model.length);
    }
    expect(q.takeAll()).toEqual(byLevel());
  });

  it('waiting queue - jobs kept by a drain that compacts the line can still be removed', () => {
    const q = new WaitingQueue(10_000);
    const js = Array.from({ length: 3000 }, (_, i) => job(`j${i}`));
    for (const j of js) q.push(j);
    let k = 0;
    // Every third job kept, the rest placed, stop at the 2,500th: the front is dropped.
    q.drain(() => (k === 2500 ? 'stop' : k++ % 3 === 0 ? 'kept' : 'placed'));
    const kept = js.filter((_, i) => i < 2500 && i % 3 === 0);
    expect(q.size).toBe(kept.length + 500);
    expect(q.remove(js[1]!)).toBe(false); // placed
    for (const j of kept) expect(q.remove(j)).toBe(true);
    expect(q.remove(js[2999]!)).toBe(true);
    expect(drainAll(q)).toEqual(js.slice(2500, 2999).map((j) => j.spec.id));
  });

  it('waiting queue - 2,000 batches put back in front of 100k waiting jobs, with drains between, keep their order', () => {
    const q = new WaitingQueue(10_000_000);
    for (let i = 0; i < 100_000; i++) q.push(job(`w${i}`));
    const expected: string[] = [];
    for (let b = 0; b < 2000; b++) {
      const back = Array.from({ length: 50 }, (_, i) => job(`b${b}-${i}`));
      q.unshiftAll(back);
      expected.unshift(...back.map((j) => j.spec.id));
      if (b % 100 === 99) {
        // A drain that places the first 10 and stops (the node refuses the rest).
        let n = 0;
        q.drain(() => (n++ < 10 ? 'placed' : 'stop'));
        expected.splice(0, 10);
      }
    }
    expect(q.size).toBe(expected.length + 100_000);
    const all = ids(q.takeAll());
    expect(all.slice(0, expected.length)).toEqual(expected);
    expect(all[expected.length]).toBe('w0');
    expect(all.at(-1)).toBe('w99999');
  });

  it('waiting queue - 200k removes from the front, the back and at random leave the rest in order', () => {
    for (const order of ['front', 'back', 'random'] as const) {
      const q = new WaitingQueue(1_000_000);
      const js = Array.from({ length: 200_000 }, (_, i) => job(`j${i}`));
      for (const j of js) q.push(j);
      const keep = new Set([0, 1, 99_999, 150_000, 199_999].map((i) => js[i]!));
      const gone = js.filter((j) => !keep.has(j));
      if (order === 'back') gone.reverse();
      if (order === 'random')
        gone.sort(
          (x, y) =>
            ((x.spec.id.length * 7919 + Number(x.spec.id.slice(1))) % 997) -
            ((y.spec.id.length * 7919 + Number(y.spec.id.slice(1))) % 997),
        );
      let removed = 0;
      for (const j of gone) if (q.remove(j)) removed++;
      expect(removed).toBe(gone.length);
      expect(q.size).toBe(5);
      expect(drainAll(q)).toEqual(['j0', 'j1', 'j99999', 'j150000', 'j199999']);
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
