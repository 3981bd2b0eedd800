import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LazyOutcome } from '../../../src/model/outcome.ts';
import { AcceptedOutcome } from '../../../src/distributor/tracked-job.ts';

/** Promise state without awaiting it: settled promises answer before the probe. */
async function stateOf(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  const probe = Symbol('pending');
  try {
    const v = await Promise.race([p, Promise.resolve(probe)]);
    return v === probe ? 'pending' : 'resolved';
  } catch {
    return 'rejected';
  }
}

describe('LazyOutcome', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('starts pending; a promise read then resolves with the value', async () => {
    const o = new LazyOutcome<number>();
    expect(o.settled).toBe(false);
    const p = o.promise;
    expect(await stateOf(p)).toBe('pending');
    o.resolve(42);
    expect(o.settled).toBe(true);
    await expect(p).resolves.toBe(42);
  });

  it('a promise read while pending rejects with the error', async () => {
    const o = new LazyOutcome<number>();
    const p = o.promise;
    const err = new Error('boom');
    o.reject(err);
    expect(o.settled).toBe(true);
    await expect(p).rejects.toBe(err);
  });

  it('returns the same promise on every read, before and after settling', async () => {
    const o = new LazyOutcome<string>();
    const p = o.promise;
    expect(o.promise).toBe(p);
    o.resolve('x');
    expect(o.promise).toBe(p);

    const late = new LazyOutcome<string>();
    late.resolve('y');
    const q = late.promise;
    expect(late.promise).toBe(q);
    await expect(q).resolves.toBe('y');
  });

  it('a promise first read after settling is already settled with the same value or error', async () => {
    const ok = new LazyOutcome<{ a: number }>();
    const value = { a: 1 };
    ok.resolve(value);
    expect(await stateOf(ok.promise)).toBe('resolved');
    expect(await ok.promise).toBe(value);

    const bad = new LazyOutcome<number>();
    const err = new Error('late');
    bad.reject(err);
    const p = bad.promise;
    expect(await stateOf(p)).toBe('rejected');
    await expect(p).rejects.toBe(err);
  });

  it('first settle wins: later resolve/reject calls are ignored', async () => {
    const a = new LazyOutcome<number>();
    a.resolve(1);
    a.resolve(2);
    a.reject(new Error('ignored'));
    await expect(a.promise).resolves.toBe(1);

    const b = new LazyOutcome<number>();
    const p = b.promise;
    const err = new Error('first');
    b.reject(err);
    b.resolve(3);
    b.reject(new Error('second'));
    await expect(p).rejects.toBe(err);
    await expect(b.promise).rejects.toBe(err);
  });

  it('makes no promise unless asked: a rejection nobody reads is not unhandled', async () => {
    const o = new LazyOutcome<number>();
    o.reject(new Error('nobody looks'));
    expect(o.settled).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
  });

  it('onSettled runs once, at settle, in order; at once when already settled', () => {
    const o = new LazyOutcome<number>();
    const calls: string[] = [];
    o.onSettled(() => calls.push('a'));
    o.onSettled(() => calls.push('b'));
    expect(calls).toEqual([]);
    o.resolve(1);
    expect(calls).toEqual(['a', 'b']);
    o.resolve(2);
    o.reject(new Error('ignored'));
    expect(calls).toEqual(['a', 'b']);
    o.onSettled(() => calls.push('c'));
    expect(calls).toEqual(['a', 'b', 'c']);

    const r = new LazyOutcome<number>();
    let n = 0;
    r.onSettled(() => n++);
    r.reject(new Error('x'));
    r.reject(new Error('y'));
    expect(n).toBe(1);
  });

  it('onSettled with a promise read: the promise is settled before the callbacks run', async () => {
    const o = new LazyOutcome<number>();
    let seen: unknown;
    o.onSettled(() => {
      seen = o.settled;
    });
    const p = o.promise;
    o.resolve(7);
    expect(seen).toBe(true);
    await expect(p).resolves.toBe(7);
  });

  it('a callback registered from inside onSettled runs at once', () => {
    const o = new LazyOutcome<number>();
    const calls: string[] = [];
    o.onSettled(() => {
      calls.push('outer');
      o.onSettled(() => calls.push('inner'));
    });
    o.resolve(1);
    expect(calls).toEqual(['outer', 'inner']);
  });
});

describe('AcceptedOutcome', () => {
  it('stores the node name and gives { node } to its promise, read before or after', async () => {
    const before = new AcceptedOutcome();
    const p = before.promise;
    before.resolve('n1');
    await expect(p).resolves.toEqual({ node: 'n1' });
    expect(before.promise).toBe(p);

    const after = new AcceptedOutcome();
    after.resolve('n2');
    const q = after.promise;
    expect(after.promise).toBe(q);
    await expect(q).resolves.toEqual({ node: 'n2' });
  });

  it('rejects with the error as is', async () => {
    const o = new AcceptedOutcome();
    const err = new Error('cancelled');
    o.reject(err);
    await expect(o.promise).rejects.toBe(err);
  });
});
