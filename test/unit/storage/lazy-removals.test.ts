import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/errors.ts';
import { deferred } from '../../../src/model/deferred.ts';
import {
  LAZY_REMOVAL_MS,
  LazyRemovals,
  MAX_LAZY_REMOVALS,
  type JoinOpenBatch,
  type RemovalBatch,
} from '../../../src/storage/lazy-removals.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

/** A batch as a storage makes it, settled by the test. */
function batch(): RemovalBatch & { resolve: () => void; reject: (err: unknown) => void } {
  const d = deferred(true);
  return { feedbacks: new Map(), done: d.done, resolve: d.resolve, reject: d.reject };
}

/** Whether `p` has settled (after the microtasks queued so far). */
async function settled(p: Promise<void>): Promise<'resolved' | 'rejected' | 'pending'> {
  let state: 'resolved' | 'rejected' | 'pending' = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return state;
}

function removals(join: JoinOpenBatch = 'all') {
  const clock = new FakeClock();
  let dues = 0;
  const lazy = new LazyRemovals({ clock, join, unobserved: true, due: () => dues++ });
  return { clock, lazy, dues: () => dues };
}

describe('lazy removals', () => {
  it('lazy removals - remove with no batch open: idle → waiting, one timer, due after LAZY_REMOVAL_MS', async () => {
    const { clock, lazy, dues } = removals();
    expect(lazy.state).toBe('idle');
    const first = lazy.remove(['a', 'b'], undefined);
    const second = lazy.remove(['c'], undefined);
    expect(lazy.state).toBe('waiting');
    expect([...lazy]).toEqual(['a', 'b', 'c']);
    expect(lazy.has('b')).toBe(true);
    expect(lazy.first).toBe('a');
    expect(clock.armed).toBe(1);
    clock.advance(LAZY_REMOVAL_MS - 1);
    expect(dues()).toBe(0);
    clock.advance(1);
    expect(dues()).toBe(1);
    expect(await settled(first)).toBe('pending');
    expect(await settled(second)).toBe('pending');
  });

  it('lazy removals - handTo: waiting → idle, the keys go into the batch and settle with it', async () => {
    const { clock, lazy } = removals();
    const waiting = lazy.remove(['a', 'b'], undefined);
    const b = batch();
    b.feedbacks.set('c', Buffer.from('x'));
    lazy.handTo(b);
    expect(lazy.state).toBe('idle');
    expect(lazy.size).toBe(0);
    expect(clock.pending).toBe(0);
    expect([...b.feedbacks]).toEqual([
      ['c', Buffer.from('x')],
      ['a', null],
      ['b', null],
    ]);
    expect(await settled(waiting)).toBe('pending');
    b.resolve();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('lazy removals - handTo: a failed batch rejects the removals it took', async () => {
    const { lazy } = removals();
    const waiting = lazy.remove(['a'], undefined);
    const b = batch();
    lazy.handTo(b);
    b.reject(new StorageError('down'));
    await expect(waiting).rejects.toThrow('down');
  });

  it('lazy removals - handTo when idle: a no-op', () => {
    const { lazy } = removals();
    const b = batch();
    lazy.handTo(b);
    expect(b.feedbacks.size).toBe(0);
    expect(lazy.state).toBe('idle');
  });

  it('lazy removals - remove of MAX_LAZY_REMOVALS keys: due at once, no timer', () => {
    const { clock, lazy, dues } = removals();
    const keys = Array.from({ length: MAX_LAZY_REMOVALS - 1 }, (_, i) => `k${i}`);
    void lazy.remove(keys, undefined);
    expect(dues()).toBe(0);
    expect(clock.armed).toBe(1);
    lazy.handTo(batch());
    void lazy.remove([...keys, 'last'], undefined);
    expect(dues()).toBe(1);
    expect(clock.armed).toBe(1); // none armed for the full set
  });

  it("lazy removals - join 'all': with a batch open every removal joins it, nothing waits", async () => {
    const { clock, lazy } = removals('all');
    const b = batch();
    b.feedbacks.set('a', Buffer.from('x'));
    const removed = lazy.remove(['a', 'b'], b);
    expect([...b.feedbacks]).toEqual([
      ['a', null],
      ['b', null],
    ]);
    expect(lazy.state).toBe('idle');
    expect(clock.armed).toBe(0);
    b.resolve();
    expect(await settled(removed)).toBe('resolved');
  });

  it("lazy removals - join 'written': only the open batch's own feedbacks join it; the rest wait for its send, untimed", async () => {
    const { clock, lazy, dues } = removals('written');
    const b = batch();
    b.feedbacks.set('a', Buffer.from('x'));
    const removed = lazy.remove(['a', 'b'], b);
    expect([...b.feedbacks]).toEqual([['a', null]]);
    expect([...lazy]).toEqual(['b']);
    expect(clock.armed).toBe(0);
    clock.advance(LAZY_REMOVAL_MS * 10);
    expect(dues()).toBe(0);
    lazy.handTo(b); // sent
    expect([...b.feedbacks]).toEqual([
      ['a', null],
      ['b', null],
    ]);
    b.resolve();
    expect(await settled(removed)).toBe('resolved');
  });

  it("lazy removals - join 'written': all in the open batch → its promise, idle", async () => {
    const { lazy } = removals('written');
    const b = batch();
    b.feedbacks.set('a', Buffer.from('x'));
    const removed = lazy.remove(['a'], b);
    expect(lazy.state).toBe('idle');
    expect(removed).toBe(b.done);
    expect(await settled(lazy.remove([], undefined))).toBe('resolved');
  });

  it('lazy removals - rewritten: waiting → waiting, the key is no longer removed, the promise stays', async () => {
    const { lazy } = removals('written');
    const waiting = lazy.remove(['a', 'b'], undefined);
    lazy.rewritten('a');
    lazy.rewritten('zz'); // not waiting: nothing happens
    expect([...lazy]).toEqual(['b']);
    expect(lazy.state).toBe('waiting');
    const b = batch();
    lazy.handTo(b);
    expect([...b.feedbacks]).toEqual([['b', null]]);
    b.resolve();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('lazy removals - rewritten when idle: a no-op', () => {
    const { lazy } = removals('written');
    lazy.rewritten('a');
    expect(lazy.state).toBe('idle');
  });

  it('lazy removals - settle: waiting with no key left → idle, following the given promise or at once', async () => {
    const { clock, lazy } = removals('written');
    const first = lazy.remove(['a'], undefined);
    lazy.rewritten('a');
    lazy.settle(undefined);
    expect(lazy.state).toBe('idle');
    expect(clock.pending).toBe(0);
    expect(await settled(first)).toBe('resolved');

    const second = lazy.remove(['b'], undefined);
    lazy.rewritten('b');
    const b = batch();
    lazy.settle(b.done);
    expect(await settled(second)).toBe('pending');
    b.resolve();
    expect(await settled(second)).toBe('resolved');
  });

  it('lazy removals - settle with keys waiting: refused (they would be dropped)', () => {
    const { lazy } = removals();
    void lazy.remove(['a'], undefined);
    expect(() => lazy.settle(undefined)).toThrow(StorageError);
    expect(lazy.state).toBe('waiting');
    expect([...lazy]).toEqual(['a']);
  });

  it('lazy removals - a new wait after handTo arms a new timer', () => {
    const { clock, lazy, dues } = removals();
    void lazy.remove(['a'], undefined);
    lazy.handTo(batch());
    clock.advance(LAZY_REMOVAL_MS);
    expect(dues()).toBe(0); // the first timer was cleared
    void lazy.remove(['b'], undefined);
    expect(clock.armed).toBe(2);
    clock.advance(LAZY_REMOVAL_MS);
    expect(dues()).toBe(1);
  });
});
