import { describe, expect, it } from 'vitest';
import { RunSlots } from '../../../src/node/lifecycle/run-slots.ts';
import type { ReadyEntry } from '../../../src/node/lifecycle/ready-queue.ts';
import { JobStatus, type JobRecord } from '../../../src/model/job.ts';
import { RateLimiter } from '../../../src/scheduling/rate-limiter.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

function record(id: string, crashes?: number): JobRecord {
  const r: JobRecord = {
    id,
    name: 'j',
    args: {},
    distributor: 'd',
    enqueuedAt: 0,
    runAt: 0,
    delivery: 1,
    node: 'n',
    status: JobStatus.New,
    attempt: 0,
    dueAt: 0,
    runs: 0,
    updatedAt: 0,
  };
  if (crashes !== undefined) r.crashes = crashes;
  return r;
}

/**
 * Slots whose runs go on, except job `id`'s, which ends inside the pump that started it.
 * `admitting`: each run is checked by `admit` first, as WorkerNode#runOne does.
 */
function endsAtOnce(id: string, admitting: boolean) {
  const started: string[] = [];
  const slots: RunSlots = new RunSlots(4, {
    canStart: () => true,
    run: (entry: ReadyEntry) => {
      started.push(entry.id);
      if (admitting && entry.record && !slots.admit(entry.id, entry.record)) {
        return slots.ended(entry.id);
      }
      if (entry.id === id) slots.ended(entry.id);
    },
    idle: () => {},
  });
  return { slots, started };
}

/** Slots whose runs end when the test says so. */
function setup(concurrency: number) {
  const running = new Map<string, () => void>();
  const started: string[] = [];
  let idle = 0;
  let open = true;
  const slots = new RunSlots(concurrency, {
    canStart: () => open,
    run: (entry: ReadyEntry) => {
      const resolve = () => slots.ended(entry.id);
      // A suspect set aside gives its slot back at once, as WorkerNode#runOne does.
      if (entry.record && !slots.admit(entry.id, entry.record)) return resolve();
      started.push(entry.id);
      running.set(entry.id, resolve);
    },
    idle: () => void idle++,
  });
  const finish = async (id: string) => {
    running.get(id)!();
    running.delete(id);
    await new Promise((r) => setImmediate(r));
  };
  return { slots, started, finish, idle: () => idle, close: () => (open = false) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('run slots', () => {
  it('run slots - at most `concurrency` at once; a freed slot starts the next, idle when empty', async () => {
    const { slots, started, finish, idle } = setup(2);
    for (const id of ['a', 'b', 'c']) slots.push({ id, record: record(id) });
    expect(started).toEqual(['a', 'b']);
    expect(slots.active).toBe(2);
    expect(slots.has('c')).toBe(true);
    await finish('a');
    expect(started).toEqual(['a', 'b', 'c']);
    await finish('b');
    await finish('c');
    expect(slots.active).toBe(0);
    expect(idle()).toBe(1);
  });

  it('run slots - a crowd of due jobs starts 256 per turn, the rest in the next turns', async () => {
    const { slots, started } = setup(1000);
    slots.pushAll(
      Array.from({ length: 600 }, (_, i) => ({ id: `j${i}`, record: record(`j${i}`) })),
    );
    expect(started).toHaveLength(256);
    await tick();
    expect(started).toHaveLength(512);
    await tick();
    expect(started).toHaveLength(600);
  });

  it('run slots - a crash suspect waits until the node is empty, then runs alone', async () => {
    const { slots, started, finish } = setup(4);
    slots.push({ id: 'a', record: record('a') });
    slots.push({ id: 'p', record: record('p', 2) });
    slots.push({ id: 'b', record: record('b') });
    // 'p' was set aside; nothing else starts while it waits for the node to empty.
    await tick();
    expect(started).toEqual(['a']);
    expect(slots.has('p')).toBe(true);
    await finish('a');
    expect(started).toEqual(['a', 'p']);
    expect(slots.reserve(record('x'))).toBe(false);
    await finish('p');
    expect(started).toEqual(['a', 'p', 'b']);
  });

  it('run slots - a run that ends at once inside pump (a suspect run alone, then gone) frees its slot for the jobs waiting, with no other event', () => {
    // The suspect's record is found finished when it starts: its run ends at once.
    const { slots, started } = endsAtOnce('p', false);
    slots.push({ id: 'p', record: record('p', 2) });
    expect(started).toEqual(['p']); // the node was empty: it ran alone, and ended
    slots.push({ id: 'a', record: record('a') });
    expect(started).toEqual(['p', 'a']);
    expect(slots.active).toBe(1);
  });

  it('run slots - a suspect waiting behind running jobs runs alone once they end, and the rest after it, even when it ends at once', () => {
    const { slots, started } = endsAtOnce('p', true);
    slots.push({ id: 'a', record: record('a') });
    slots.push({ id: 'p', record: record('p', 2) });
    slots.push({ id: 'b', record: record('b') });
    slots.push({ id: 'c', record: record('c') });
    expect(started).toEqual(['a', 'p']); // p set aside: b and c wait behind it
    slots.ended('a'); // the node is empty: p runs alone and ends at once; b and c go
    expect(started).toEqual(['a', 'p', 'p', 'b', 'c']);
    expect(slots.active).toBe(2);
  });

  it('run slots - reserve takes a slot only when nothing waits, never for a suspect', async () => {
    const { slots } = setup(1);
    expect(slots.reserve(record('s', 2))).toBe(false);
    expect(slots.reserve(record('x'))).toBe(true);
    expect(slots.active).toBe(1);
    expect(slots.reserve(record('y'))).toBe(false);
    slots.release();
    expect(slots.active).toBe(0);
  });

  it('run slots - remove, values and clear; nothing starts while the node is not running', () => {
    const { slots, started, close } = setup(1);
    close();
    slots.push({ id: 'a' });
    slots.push({ id: 'b' });
    expect(started).toEqual([]);
    expect([...slots.values()].map((e) => e.id)).toEqual(['a', 'b']);
    expect(slots.remove('a')?.id).toBe('a');
    expect(slots.remove('a')).toBeUndefined();
    slots.clear();
    expect(slots.has('b')).toBe(false);
  });
});

describe('run slots - pause', () => {
  it('run slots - running → paused: nothing starts, running jobs go on; → running: the queue starts in order', async () => {
    const { slots, started, finish } = setup(2);
    slots.push({ id: 'a', record: record('a') });
    expect(slots.pause()).toBe(true);
    expect(slots.pause()).toBe(false); // paused already
    expect(slots.paused).toBe(true);
    for (const id of ['b', 'c', 'd']) slots.push({ id, record: record(id) });
    await finish('a'); // a slot frees while paused: nothing takes it
    expect(started).toEqual(['a']);
    expect(slots.reserve(record('x'))).toBe(false); // no start outside the queue either
    expect(slots.resume()).toBe(true);
    expect(slots.resume()).toBe(false); // not paused
    expect(started).toEqual(['a', 'b', 'c']);
    await finish('b');
    expect(started).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('run slots - limiter', () => {
  it('run slots - starts past the limiter wait for its window (one timer), in order; reserve counts too', () => {
    const clock = new FakeClock(1_000_000);
    const started: string[] = [];
    const slots = new RunSlots(10, {
      canStart: () => true,
      run: (entry: ReadyEntry) => {
        started.push(entry.id);
      },
      idle: () => {},
      limiter: new RateLimiter({ max: 2, duration: 1000 }),
      clock,
    });
    expect(slots.reserve(record('r'))).toBe(true); // takes one of the two
    for (const id of ['a', 'b', 'c']) slots.push({ id, record: record(id) });
    expect(started).toEqual(['a']);
    expect(clock.pending).toBe(1);
    clock.advance(999);
    expect(started).toEqual(['a']);
    clock.advance(1); // r and a leave the window: two more may start
    expect(started).toEqual(['a', 'b', 'c']);
    expect(slots.reserve(record('s'))).toBe(false); // the window is full again
    clock.advance(1000);
    expect(slots.reserve(record('s'))).toBe(true);
  });
});
