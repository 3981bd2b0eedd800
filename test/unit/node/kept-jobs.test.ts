import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { KEEP_DEFAULT_COUNT, KeptJobs } from '../../../src/node/lifecycle/kept-jobs.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const T0 = 1_700_000_000_000;

function setup(options?: ConstructorParameters<typeof KeptJobs>[0]) {
  const clock = new FakeClock(T0);
  const evicted: string[] = [];
  const kept = new KeptJobs(options, clock, (ids) => evicted.push(...ids));
  return { clock, evicted, kept };
}

describe('kept jobs (retention index)', () => {
  it('kept jobs - past count the oldest of that kind go first; counts follow', () => {
    const { kept, evicted } = setup({ complete: { count: 2 }, failed: { count: 1 } });
    kept.add('c1', 'complete', T0);
    kept.add('c2', 'complete', T0 + 1);
    kept.add('f1', 'failed', T0 + 2);
    expect(evicted).toEqual([]);
    kept.add('c3', 'complete', T0 + 3);
    kept.add('f2', 'failed', T0 + 4);
    expect(evicted).toEqual(['c1', 'f1']);
    expect(kept.count('complete')).toBe(2);
    expect(kept.count('failed')).toBe(1);
  });

  it('kept jobs - past age they go when their time comes (one timer, re-armed), none early', () => {
    const { kept, evicted, clock } = setup({ failed: { age: 10 } }); // seconds, as BullMQ
    kept.add('a', 'failed', T0);
    clock.advance(4000);
    kept.add('b', 'failed', clock.now());
    clock.advance(5999);
    expect(evicted).toEqual([]);
    clock.advance(1);
    expect(evicted).toEqual(['a']);
    clock.advance(3999);
    expect(evicted).toEqual(['a']);
    clock.advance(1);
    expect(evicted).toEqual(['a', 'b']);
    expect(kept.count('failed')).toBe(0);
    expect(kept.empty).toBe(true);
  });

  it('kept jobs - age as a string; a job deleted (its id enqueued again) is never evicted', () => {
    const { kept, evicted, clock } = setup({ complete: { age: '1m', count: 1 } });
    kept.add('x', 'complete', T0);
    kept.delete('x');
    kept.add('y', 'complete', T0 + 1);
    expect(evicted).toEqual([]); // x no longer counts
    clock.advance(60_001);
    expect(evicted).toEqual(['y']);
  });

  it('kept jobs - re-adding an id moves it; defaults keep 10,000 of each; close stops everything', () => {
    const { kept, evicted, clock } = setup({ complete: { count: 2, age: 1 } });
    kept.add('a', 'complete', T0);
    kept.add('b', 'complete', T0);
    kept.add('a', 'complete', T0 + 500); // again: now the newest
    kept.add('c', 'complete', T0 + 500);
    expect(evicted).toEqual(['b']);
    kept.close();
    clock.advance(10_000);
    expect(evicted).toEqual(['b']);
    const defaults = setup();
    for (let i = 0; i <= KEEP_DEFAULT_COUNT; i++) defaults.kept.add(`j${i}`, 'failed', T0);
    expect(defaults.evicted).toEqual(['j0']);
  });

  it('kept jobs - bad rules are typed errors naming the field', () => {
    const bad = (o: unknown) => () => setup(o as never);
    expect(bad({ complete: { count: -1 } })).toThrow(/keep.complete.count must be/);
    expect(bad({ failed: { age: 0 } })).toThrow(/keep.failed.age must be more than 0/);
    expect(bad({ failed: { age: 'soon' } })).toThrow(InvalidArgumentError);
    expect(bad({ failed: { max: 3 } })).toThrow(/unknown keep.failed option 'max'/);
    expect(bad({ complete: 5 })).toThrow(/keep.complete must be an object/);
    expect(bad({ completed: {} })).toThrow(/unknown keep option 'completed': use 'complete'/);
  });
});
