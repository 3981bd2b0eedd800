import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import type { JobArgs } from '../../../src/model/job.ts';
import {
  ATTEMPT_ARG_KEYS,
  cloneArgs,
  flatCopy,
  isPlainObject,
  merge,
  snapshot,
  stripAttemptKeys,
} from '../../../src/node/running/args-copy.ts';

/** An object with an own `__proto__` key, as JSON.parse makes it. */
const withProtoKey = (): JobArgs => JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');

describe('args copy - stripAttemptKeys', () => {
  it('args copy - the keys the runner writes are jobItself, error, errbackError and returnValue', () => {
    expect([...ATTEMPT_ARG_KEYS]).toEqual(['jobItself', 'error', 'errbackError', 'returnValue']);
  });

  it('args copy - stripAttemptKeys returns args itself when it has none of them', () => {
    const args = { n: 1, nested: { a: 1 } };
    expect(stripAttemptKeys(args)).toBe(args);
  });

  it('args copy - stripAttemptKeys drops them from a copy and leaves args untouched', () => {
    const args = { n: 1, jobItself: { id: 'j' }, error: { message: 'x' }, errbackError: 'e' };
    const stripped = stripAttemptKeys(args);
    expect(stripped).toEqual({ n: 1 });
    expect(stripped).not.toBe(args);
    expect(Object.keys(args)).toEqual(['n', 'jobItself', 'error', 'errbackError']);
  });

  it('args copy - stripAttemptKeys drops a key that is present but undefined', () => {
    const stripped = stripAttemptKeys({ n: 1, error: undefined });
    expect(Object.keys(stripped)).toEqual(['n']);
  });
});

describe('args copy - flatCopy', () => {
  it('args copy - flatCopy copies a plain object of primitives into a new object', () => {
    const args = { s: 'x', n: 1.5, nan: NaN, b: false, nul: null, u: undefined };
    const copy = flatCopy(args);
    expect(copy).not.toBe(args);
    expect(copy).toEqual(args);
    expect(Object.keys(copy!)).toEqual(Object.keys(args));
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it('args copy - flatCopy gives a null-prototype object an ordinary prototype, like structuredClone', () => {
    const args = Object.assign(Object.create(null) as JobArgs, { n: 1 });
    const copy = flatCopy(args)!;
    expect(copy).toEqual({ n: 1 });
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it('args copy - flatCopy declines nested values, functions, symbols and bigints', () => {
    expect(flatCopy({ a: 1, nested: { b: 2 } })).toBeUndefined();
    expect(flatCopy({ list: [1, 2] })).toBeUndefined();
    expect(flatCopy({ at: new Date(0) })).toBeUndefined();
    expect(flatCopy({ fn: () => 1 })).toBeUndefined();
    expect(flatCopy({ sym: Symbol('s') })).toBeUndefined();
    expect(flatCopy({ big: 1n })).toBeUndefined();
  });

  it('args copy - flatCopy declines an own __proto__ key', () => {
    expect(flatCopy(JSON.parse('{"__proto__": 1, "ok": 1}'))).toBeUndefined();
    expect(flatCopy(withProtoKey())).toBeUndefined();
  });

  it('args copy - flatCopy declines a proxy without reading through it', () => {
    const reads: PropertyKey[] = [];
    const proxy = new Proxy<JobArgs>(
      { n: 1 },
      {
        get: (target, key, receiver) => {
          reads.push(key);
          return Reflect.get(target, key, receiver) as unknown;
        },
        ownKeys: (target) => {
          reads.push('ownKeys');
          return Reflect.ownKeys(target);
        },
      },
    );
    expect(flatCopy(proxy)).toBeUndefined();
    expect(reads).toEqual([]);
  });

  it('args copy - flatCopy declines what is not a plain object', () => {
    class Args {
      n = 1;
    }
    expect(flatCopy(new Args() as unknown as JobArgs)).toBeUndefined();
    expect(flatCopy(new Map() as unknown as JobArgs)).toBeUndefined();
  });
});

describe('args copy - cloneArgs', () => {
  it('args copy - cloneArgs copies flat args', () => {
    const args = { n: 1, s: 'x' };
    const copy = cloneArgs(args);
    expect(copy).toEqual(args);
    expect(copy).not.toBe(args);
  });

  it('args copy - cloneArgs deep-clones nested args', () => {
    const args = { n: 1, nested: { list: [1, 2] }, at: new Date(5) };
    const copy = cloneArgs(args);
    expect(copy).toEqual(args);
    expect(copy.nested).not.toBe(args.nested);
    (copy.nested as { list: number[] }).list.push(3);
    expect(args.nested.list).toEqual([1, 2]);
    expect(copy.at).toBeInstanceOf(Date);
  });

  it('args copy - cloneArgs keeps an own __proto__ key as a plain property', () => {
    const copy = cloneArgs(withProtoKey());
    expect(Object.keys(copy)).toEqual(['__proto__', 'ok']);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('args copy - cloneArgs throws for values structuredClone cannot copy, and for proxies', () => {
    expect(() => cloneArgs({ nested: { fn: () => 1 } })).toThrow();
    expect(() => cloneArgs(new Proxy({ n: 1 }, {}))).toThrow();
  });

  it('args copy - cloneArgs throws InvalidArgumentError for args that are not a plain object', () => {
    expect(() => cloneArgs(new Map([['n', 1]]) as unknown as JobArgs)).toThrow(
      InvalidArgumentError,
    );
    expect(() => cloneArgs(new Date(0) as unknown as JobArgs)).toThrow(/plain object/);
  });
});

describe('args copy - snapshot', () => {
  it('args copy - snapshot is a deep copy that later changes do not reach', () => {
    const args = { n: 1, nested: { a: 1 } };
    const snap = snapshot(args);
    args.n = 2;
    args.nested.a = 2;
    expect(snap).toEqual({ n: 1, nested: { a: 1 } });
  });

  it('args copy - snapshot never throws: uncloneable args give a shallow copy', () => {
    const fn = (): number => 1;
    const nested = { fn };
    const args = { n: 1, nested };
    const snap = snapshot(args);
    expect(snap).not.toBe(args);
    expect(snap.nested).toBe(nested);
    args.n = 2;
    expect(snap.n).toBe(1);
  });
});

describe('args copy - isPlainObject and merge', () => {
  it('args copy - isPlainObject accepts object literals and null-prototype objects only', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(undefined)).toBe(false);
    expect(isPlainObject('x')).toBe(false);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
    expect(isPlainObject(new (class {})())).toBe(false);
    expect(isPlainObject(() => ({}))).toBe(false);
  });

  it('args copy - merge assigns own enumerable keys, overwriting', () => {
    const target: JobArgs = { a: 1, b: 1 };
    merge(target, { b: 2, c: 3 });
    expect(target).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('args copy - merge makes a __proto__ key a plain property, not the prototype', () => {
    const target: JobArgs = { a: 1 };
    merge(target, withProtoKey());
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect((target as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(target)).toEqual(['a', '__proto__', 'ok']);
    expect(Object.getOwnPropertyDescriptor(target, '__proto__')).toEqual({
      value: { polluted: true },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
