import { describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError } from '../../../src/errors.ts';
import { MAX_TIMER_DELAY, type TimerHandle } from '../../../src/model/clock.ts';
import {
  TimerQueue,
  TimerQueueState,
  type TimerQueueOptions,
} from '../../../src/scheduling/timer-queue.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const SECOND = 1000;
const DAY = 86_400_000;

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
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

/** A FakeClock that also records every delay asked for and every unref. */
class RecordingClock extends FakeClock {
  delays: number[] = [];
  unrefs = 0;
  override setTimer(fn: () => void, ms: number): TimerHandle {
    this.delays.push(ms);
    const handle = super.setTimer(fn, ms);
    handle.unref = () => {
      this.unrefs++;
    };
    return handle;
  }
}

interface Fired {
  key: string;
  dueAt: number;
  now: number;
}

function setup(options: Partial<TimerQueueOptions<string>> = {}) {
  const clock = new RecordingClock();
  const fired: Fired[] = [];
  const queue = new TimerQueue<string>({
    clock,
    onDue: (key, dueAt) => {
      fired.push({ key, dueAt, now: clock.now() });
    },
    ...options,
  });
  return { clock, fired, queue, t0: clock.now() };
}

describe('TimerQueue', () => {
  it('timer-queue - 5,000 timers in random order fire in (dueAt, insertion) order, on time, once each', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const random = seeded(42);
    const fired: { key: number; dueAt: number }[] = [];
    let maxPending = 0;
    const queue = new TimerQueue<number>({
      clock,
      onDue: (key, dueAt) => {
        expect(clock.now()).toBeGreaterThanOrEqual(dueAt);
        expect(clock.now()).toBe(dueAt); // a FakeClock is exact: not late either
        maxPending = Math.max(maxPending, clock.pending);
        fired.push({ key, dueAt });
      },
    });
    const n = 5000;
    // 2,001 possible due times (every 100 ms over 200 s): many ties, several capped waits.
    const entries = Array.from({ length: n }, (_, key) => ({
      key,
      dueAt: t0 + Math.floor(random() * 2001) * 100,
    }));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    for (const e of entries) {
      queue.add(e.key, e.dueAt);
      maxPending = Math.max(maxPending, clock.pending);
    }
    expect(queue.size).toBe(n);
    expect(fired).toHaveLength(0);
    // Only a new earliest head re-arms while adding: about ln(n) times, not n.
    expect(clock.armed).toBeLessThan(40);

    while (queue.size > 0) {
      clock.advance(Math.floor(random() * 5 * SECOND));
      maxPending = Math.max(maxPending, clock.pending);
    }
    const expected = entries
      .map((e, insertion) => ({ ...e, insertion }))
      .sort((a, b) => a.dueAt - b.dueAt || a.insertion - b.insertion)
      .map(({ key, dueAt }) => ({ key, dueAt }));
    expect(fired).toEqual(expected);
    expect(new Set(fired.map((f) => f.key)).size).toBe(n);
    expect(maxPending).toBeLessThanOrEqual(1);
    const distinct = new Set(entries.map((e) => e.dueAt)).size;
    // One timer per distinct due time, plus the adds' re-arms and the 60 s capped waits.
    expect(clock.armed).toBeLessThanOrEqual(distinct + 40 + 10);
    expect(clock.armed).toBeLessThan(n / 2);
    expect(clock.pending).toBe(0);
    expect(queue.state).toBe(TimerQueueState.Idle);
  });

  it('timer-queue - 5,000 random adds, replaces, removes and advances agree with a sorted-list model', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const random = seeded(7);
    const pick = (n: number) => Math.floor(random() * n);
    /** Model: the waiting entries, each with the insertion number of its latest add. */
    const model = new Map<string, { dueAt: number; insertion: number; addedAt: number }>();
    let insertions = 0;
    const problems: string[] = [];
    let fired = 0;
    const modelHead = () => {
      let head: { key: string; dueAt: number; insertion: number; addedAt: number } | undefined;
      for (const [key, e] of model) {
        if (
          !head ||
          e.dueAt < head.dueAt ||
          (e.dueAt === head.dueAt && e.insertion < head.insertion)
        ) {
          head = { key, ...e };
        }
      }
      return head;
    };
    const modelAdd = (key: string, dueAt: number) => {
      model.set(key, { dueAt, insertion: insertions++, addedAt: clock.now() });
    };
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key, dueAt) => {
        fired++;
        const head = modelHead();
        const now = clock.now();
        // Every firing is the model's (dueAt, insertion) minimum, on time (exactly on a
        // FakeClock when it was added ahead of time), never early.
        if (head?.key !== key || head.dueAt !== dueAt) {
          problems.push(`fired ${key}@${dueAt}, model head ${head?.key}@${head?.dueAt}`);
        }
        if (now < dueAt) problems.push(`${key} fired ${dueAt - now} ms early`);
        if (head && head.addedAt <= dueAt && now !== dueAt) {
          problems.push(`${key} fired ${now - dueAt} ms late`);
        }
        model.delete(key);
        // Sometimes re-add from inside onDue, possibly in the past: waits for the next turn.
        if (random() < 0.1) {
          const again = now - ((now - t0) % SECOND) + (pick(4) - 2) * SECOND;
          queue.add(key, again);
          modelAdd(key, again);
        }
      },
    });
    const keys = Array.from({ length: 200 }, (_, i) => `job-${i}`);
    const check = (step: number) => {
      if (queue.size !== model.size)
        problems.push(`step ${step}: size ${queue.size} ≠ ${model.size}`);
      for (const key of keys) {
        const e = model.get(key);
        if (queue.has(key) !== (e !== undefined) || queue.dueAt(key) !== e?.dueAt) {
          problems.push(`step ${step}: ${key} has/dueAt ${queue.dueAt(key)} ≠ ${e?.dueAt}`);
        }
      }
      const head = modelHead();
      const peek = queue.peek();
      if (peek?.key !== head?.key || peek?.dueAt !== head?.dueAt) {
        problems.push(`step ${step}: peek ${peek?.key} ≠ model head ${head?.key}`);
      }
    };
    for (let step = 0; step < 5000 && problems.length === 0; step++) {
      const op = random();
      const key = keys[pick(keys.length)]!;
      if (op < 0.45) {
        // New key or a replace. Whole seconds from 2 s ago to 37 s ahead make many ties;
        // one add in 20 lands up to 5 minutes ahead, past several capped waits.
        const now = clock.now();
        const dueAt =
          random() < 0.05
            ? now + pick(300_000)
            : now - ((now - t0) % SECOND) + (pick(40) - 2) * SECOND;
        queue.add(key, dueAt);
        modelAdd(key, dueAt);
      } else if (op < 0.65) {
        const removed = queue.remove(key);
        if (removed !== model.delete(key)) problems.push(`step ${step}: remove(${key}) ${removed}`);
      } else if (op < 0.655) {
        queue.clear();
        model.clear();
      } else {
        clock.advance(pick(3 * SECOND));
        // Whatever was due by now has fired.
        const head = modelHead();
        if (head && head.dueAt <= clock.now()) {
          problems.push(`step ${step}: ${head.key}@${head.dueAt} still waiting at ${clock.now()}`);
        }
      }
      check(step);
    }
    expect(problems).toEqual([]);
    expect(fired).toBeGreaterThan(1000);
    clock.advance(10 * 60 * SECOND);
    expect(problems).toEqual([]);
    expect(model.size).toBe(0);
    expect(queue.size).toBe(0);
    expect(queue.peek()).toBeUndefined();
    expect(clock.pending).toBe(0);
    expect(queue.state).toBe(TimerQueueState.Idle);
  });

  it('timer-queue - adding an earlier entry re-arms and it fires first', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('late', t0 + 10 * SECOND);
    const armedBefore = clock.armed;
    queue.add('early', t0 + 5 * SECOND);
    expect(clock.armed).toBe(armedBefore + 1);
    expect(clock.pending).toBe(1);
    expect(queue.peek()).toEqual({ key: 'early', dueAt: t0 + 5 * SECOND });
    // A later entry does not touch the timer.
    queue.add('later', t0 + 20 * SECOND);
    expect(clock.armed).toBe(armedBefore + 1);
    clock.advance(30 * SECOND);
    expect(fired.map((f) => [f.key, f.now - t0])).toEqual([
      ['early', 5 * SECOND],
      ['late', 10 * SECOND],
      ['later', 20 * SECOND],
    ]);
  });

  it('timer-queue - removing the head re-arms for the next entry', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('a', t0 + 5 * SECOND);
    queue.add('b', t0 + 10 * SECOND);
    const armedBefore = clock.armed;
    expect(queue.remove('a')).toBe(true);
    expect(clock.armed).toBe(armedBefore + 1);
    expect(clock.pending).toBe(1);
    expect(clock.delays.at(-1)).toBe(10 * SECOND);
    clock.advance(9999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ key: 'b', dueAt: t0 + 10 * SECOND, now: t0 + 10 * SECOND }]);
    // Removing a non-head entry leaves the timer alone.
    queue.add('c', t0 + 20 * SECOND);
    queue.add('d', t0 + 30 * SECOND);
    const armed = clock.armed;
    expect(queue.remove('d')).toBe(true);
    expect(clock.armed).toBe(armed);
    expect(queue.remove('d')).toBe(false);
    // Removing the last entry disarms.
    expect(queue.remove('c')).toBe(true);
    expect(clock.pending).toBe(0);
    expect(queue.state).toBe(TimerQueueState.Idle);
  });

  it('timer-queue - a 30-day delay (past the 24.8-day timer limit) fires at its time, not before', () => {
    const { clock, fired, queue, t0 } = setup();
    const dueAt = t0 + 30 * DAY;
    expect(30 * DAY).toBeGreaterThan(MAX_TIMER_DELAY);
    queue.add('month', dueAt);
    for (let day = 1; day < 30; day++) {
      clock.advance(DAY);
      expect(fired).toEqual([]);
      expect(clock.pending).toBe(1);
    }
    clock.advanceTo(dueAt - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ key: 'month', dueAt, now: dueAt }]);
    expect(Math.max(...clock.delays)).toBeLessThanOrEqual(60_000);
  });

  it('timer-queue - with maxWait at the timer limit a 30-day delay is chained over two timers', () => {
    const { clock, fired, queue, t0 } = setup({ maxWait: MAX_TIMER_DELAY });
    const dueAt = t0 + 30 * DAY;
    queue.add('month', dueAt);
    clock.advanceTo(dueAt - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toHaveLength(1);
    expect(clock.armed).toBe(2);
    expect(clock.delays).toEqual([MAX_TIMER_DELAY, 30 * DAY - MAX_TIMER_DELAY]);
  });

  it('timer-queue - a clock jump forward fires what became due at the next capped wait', () => {
    const { clock, fired, queue, t0 } = setup({ maxWait: 60 * SECOND });
    queue.add('in-an-hour', t0 + 3_600 * SECOND);
    clock.advance(10 * SECOND);
    clock.jump(2 * 3_600 * SECOND); // wall clock steps forward; no timer fires by itself
    expect(fired).toEqual([]);
    const jumpedAt = clock.now();
    clock.advance(60 * SECOND);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.key).toBe('in-an-hour');
    expect(fired[0]!.now).toBeGreaterThanOrEqual(t0 + 3_600 * SECOND);
    expect(fired[0]!.now).toBeLessThanOrEqual(jumpedAt + 60 * SECOND);
  });

  it('timer-queue - a clock jump backward never makes an entry fire early', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('a', t0 + 10 * 60 * SECOND);
    clock.jump(-30 * 60 * SECOND);
    clock.advanceTo(t0 + 10 * 60 * SECOND - 1);
    expect(fired).toEqual([]);
    clock.advance(60 * SECOND);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.now).toBeGreaterThanOrEqual(t0 + 10 * 60 * SECOND);
  });

  it('timer-queue - an entry due in the past fires on the next turn, never inside add()', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('past', t0 - 5 * SECOND);
    queue.add('also-past', t0 - 10 * SECOND);
    queue.add('now', t0);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(1);
    expect(clock.delays).toEqual([0]); // one delay-0 timer for all three
    clock.advance(0);
    expect(fired.map((f) => f.key)).toEqual(['also-past', 'past', 'now']);
  });

  it('timer-queue - an entry re-added from onDue with a past time waits for the next turn', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const log: string[] = [];
    let inside = false;
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key) => {
        expect(inside).toBe(false);
        inside = true;
        log.push(key);
        if (key === 'a') queue.add('again', clock.now() - 1_000);
        inside = false;
      },
    });
    queue.add('a', t0 + SECOND);
    queue.add('b', t0 + SECOND);
    const armedBefore = clock.armed;
    clock.advance(SECOND);
    // 'again' is earlier than 'b', so the (dueAt, insertion) order puts it first, on a
    // second turn (one more delay-0 timer), never inside a's onDue.
    expect(log).toEqual(['a', 'again', 'b']);
    expect(clock.armed).toBe(armedBefore + 1);
    expect(clock.pending).toBe(0);
  });

  it('timer-queue - onDue throwing is reported and the queue keeps working', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const errors: [unknown, string][] = [];
    const log: string[] = [];
    const boom = new InvalidArgumentError('boom');
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key) => {
        log.push(key);
        if (key.startsWith('bad')) throw boom;
      },
      onError: (error, key) => {
        errors.push([error, key]);
        if (key === 'bad2') throw new InvalidArgumentError('reporter broke too');
      },
    });
    queue.add('bad1', t0 + SECOND);
    queue.add('good1', t0 + SECOND);
    queue.add('bad2', t0 + 2 * SECOND);
    queue.add('good2', t0 + 3 * SECOND);
    clock.advance(5 * SECOND);
    expect(log).toEqual(['bad1', 'good1', 'bad2', 'good2']);
    expect(errors).toEqual([
      [boom, 'bad1'],
      [boom, 'bad2'],
    ]);
    queue.add('later', clock.now() + SECOND);
    clock.advance(SECOND);
    expect(log.at(-1)).toBe('later');
  });

  it('timer-queue - onDue throwing without onError is swallowed', () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key) => {
        log.push(key);
        throw new InvalidArgumentError('x');
      },
    });
    queue.add('a', clock.now());
    queue.add('b', clock.now() + 1);
    expect(() => clock.advance(10)).not.toThrow();
    expect(log).toEqual(['a', 'b']);
  });

  it('timer-queue - add() of an existing key moves it', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('a', t0 + 10 * SECOND);
    queue.add('b', t0 + 20 * SECOND);
    queue.add('a', t0 + 30 * SECOND); // the head moves later: re-armed for b
    expect(queue.size).toBe(2);
    expect(queue.dueAt('a')).toBe(t0 + 30 * SECOND);
    expect(queue.peek()).toEqual({ key: 'b', dueAt: t0 + 20 * SECOND });
    expect(clock.pending).toBe(1);
    expect(clock.delays.at(-1)).toBe(20 * SECOND);
    clock.advance(15 * SECOND);
    expect(fired).toEqual([]);
    queue.add('a', t0 + 16 * SECOND); // and earlier again
    clock.advance(40 * SECOND);
    expect(fired.map((f) => [f.key, f.now - t0])).toEqual([
      ['a', 16 * SECOND],
      ['b', 20 * SECOND],
    ]);
  });

  it('timer-queue - a moved key counts as inserted last among equal due times', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('a', t0 + SECOND);
    queue.add('b', t0 + SECOND);
    queue.add('a', t0 + SECOND);
    clock.advance(SECOND);
    expect(fired.map((f) => f.key)).toEqual(['b', 'a']);
  });

  it('timer-queue - has, dueAt, peek, size and clear', () => {
    const { clock, fired, queue, t0 } = setup();
    expect(queue.peek()).toBeUndefined();
    expect(queue.has('a')).toBe(false);
    expect(queue.dueAt('a')).toBeUndefined();
    queue.add('a', t0 + 2 * SECOND);
    queue.add('b', t0 + SECOND);
    expect(queue.has('a')).toBe(true);
    expect(queue.dueAt('a')).toBe(t0 + 2 * SECOND);
    expect(queue.peek()).toEqual({ key: 'b', dueAt: t0 + SECOND });
    expect(queue.size).toBe(2);
    queue.clear();
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
    clock.advance(10 * SECOND);
    expect(fired).toEqual([]);
    queue.add('c', clock.now() + SECOND); // still usable
    clock.advance(SECOND);
    expect(fired.map((f) => f.key)).toEqual(['c']);
  });

  it('timer-queue - close() disarms, drops entries and refuses add()', () => {
    const { clock, fired, queue, t0 } = setup();
    queue.add('a', t0 + SECOND);
    queue.close();
    expect(clock.pending).toBe(0);
    expect(queue.size).toBe(0);
    expect(queue.state).toBe(TimerQueueState.Closed);
    expect(() => queue.add('b', t0)).toThrow(ClosedError);
    expect(queue.remove('a')).toBe(false);
    clock.advance(10 * SECOND);
    expect(fired).toEqual([]);
    queue.close(); // idempotent
  });

  it('timer-queue - close() from inside onDue stops the batch', () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key) => {
        log.push(key);
        queue.close();
      },
    });
    queue.add('a', clock.now() + 1);
    queue.add('b', clock.now() + 1);
    clock.advance(1);
    expect(log).toEqual(['a']);
    expect(clock.pending).toBe(0);
  });

  it('timer-queue - remove() and clear() from inside onDue', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const log: string[] = [];
    const queue = new TimerQueue<string>({
      clock,
      onDue: (key) => {
        log.push(key);
        if (key === 'a') queue.remove('b');
        if (key === 'c') queue.clear();
      },
    });
    queue.add('a', t0 + 1);
    queue.add('b', t0 + 1);
    queue.add('c', t0 + 2);
    queue.add('d', t0 + 2);
    queue.add('e', t0 + 3);
    clock.advance(10);
    expect(log).toEqual(['a', 'c']);
    expect(clock.pending).toBe(0);
  });

  it('timer-queue - the timer is unref-ed only when asked', () => {
    const plain = setup();
    plain.queue.add('a', plain.t0 + SECOND);
    expect(plain.clock.unrefs).toBe(0);
    const unref = setup({ unref: true });
    unref.queue.add('a', unref.t0 + SECOND);
    unref.queue.add('b', unref.t0 + 1);
    expect(unref.clock.unrefs).toBe(2);
  });

  it('timer-queue - bad options and due times are rejected', () => {
    const clock = new FakeClock();
    const onDue = () => {};
    expect(() => new TimerQueue({ clock, onDue, maxWait: 0 })).toThrow(InvalidArgumentError);
    expect(() => new TimerQueue({ clock, onDue, maxWait: MAX_TIMER_DELAY + 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new TimerQueue({ clock, onDue, maxWait: Number.NaN })).toThrow(
      InvalidArgumentError,
    );
    const queue = new TimerQueue<string>({ clock, onDue });
    expect(() => queue.add('a', Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => queue.add('a', Infinity)).toThrow(InvalidArgumentError);
    expect(queue.size).toBe(0);
  });
});
