import { types } from 'node:util';
import { InvalidArgumentError } from '../../errors.ts';
import type { JobArgs } from '../../model/job.ts';

export { ATTEMPT_ARG_KEYS, stripAttemptKeys } from '../../model/job.ts';

/**
 * The attempt's own copy of `args`: a flat copy when it can (see `flatCopy`), else a
 * structured clone. Throws when args cannot be cloned or are not a plain object.
 */
export function cloneArgs(args: JobArgs): JobArgs {
  const flat = flatCopy(args);
  if (flat !== undefined) return flat;
  const cloned: unknown = structuredClone(args);
  if (!isPlainObject(cloned)) {
    throw new InvalidArgumentError(`job args must be a plain object (got ${typeof cloned})`);
  }
  return cloned;
}

/**
 * What `structuredClone` gives for the common case, a plain object whose values are all
 * primitives (strings, numbers, booleans, null, undefined), at a fraction of the cost;
 * undefined for anything else (nested data, a proxy, a `__proto__` key), which takes the
 * structured clone.
 */
export function flatCopy(args: JobArgs): JobArgs | undefined {
  if (!isPlainObject(args) || isProxy(args)) return undefined;
  const out: JobArgs = {};
  // for-in with an own-key check: the same keys in the same order as Object.keys, without
  // an array per attempt.
  for (const key in args) {
    if (!Object.hasOwn(args, key)) continue;
    const v = args[key];
    const t = typeof v;
    if (t === 'object' ? v !== null : t === 'function' || t === 'symbol' || t === 'bigint') {
      return undefined;
    }
    if (key === '__proto__') return undefined;
    out[key] = v;
  }
  return out;
}

/** A copy that a step still running in the background cannot change. Never throws. */
export function snapshot(args: JobArgs): JobArgs {
  try {
    return cloneArgs(args);
  } catch {
    return { ...args };
  }
}

const isProxy = (value: object): boolean => types.isProxy(value);

export function isPlainObject(value: unknown): value is JobArgs {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `Object.assign`, except that a `__proto__` key becomes a plain property instead of a prototype. */
export function merge(target: JobArgs, source: JobArgs): void {
  for (const key of Object.keys(source)) {
    if (key === '__proto__') {
      Object.defineProperty(target, key, {
        value: source[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      target[key] = source[key];
    }
  }
}
