import { types } from 'node:util';
import { InvalidArgumentError } from '../errors.ts';
import type { JobArgs } from '../model/job.ts';

/**
 * Keys the runner itself writes into args during an attempt. A node that keeps an
 * attempt's args for a later run (periodic jobs) strips them first, so they never leak
 * into the next run (JobReactor's W22).
 */
export const ATTEMPT_ARG_KEYS = ['jobItself', 'error', 'errbackError'] as const;

/**
 * `args` without the keys the runner writes (`ATTEMPT_ARG_KEYS`): a shallow copy, or `args`
 * itself when it has none of them (the common case, on every finished job).
 */
export function stripAttemptKeys(args: JobArgs): JobArgs {
  if (!ATTEMPT_ARG_KEYS.some((key) => key in args)) return args;
  const copy = { ...args };
  for (const key of ATTEMPT_ARG_KEYS) delete copy[key];
  return copy;
}

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
  for (const key of Object.keys(args)) {
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
