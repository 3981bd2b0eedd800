import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  DuplicateJobError,
  InvalidArgumentError,
  UnknownJobError,
  type ErrorInfo,
} from '../../../src/errors.ts';
import { JobRegistry } from '../../../src/node/definitions/job-registry.ts';

describe('job registry', () => {
  it('job registry - define returns a frozen reference and stores the definition', () => {
    const registry = new JobRegistry();
    const handler = (): void => {};
    const ref = registry.define('resize', handler, { timeout: 1, maxAttempt: 3 });
    expect(ref).toEqual({ name: 'resize' });
    expect(Object.isFrozen(ref)).toBe(true);
    const def = registry.get('resize');
    expect(def?.handler).toBe(handler);
    expect(def?.options).toEqual({ timeoutMs: 1000, maxAttempt: 3 });
    expect(def?.callbacks).toEqual([]);
    expect(def?.errbacks).toEqual([]);
    expect(registry.has('resize')).toBe(true);
    expect(registry.has('other')).toBe(false);
    expect(registry.get('other')).toBeUndefined();
  });

  it('job registry - defining a name twice throws DuplicateJobError and keeps the first', () => {
    const registry = new JobRegistry();
    const first = (): void => {};
    registry.define('once', first);
    registry.callback('once', 'cb', () => {});
    expect(() => registry.define('once', () => {})).toThrow(DuplicateJobError);
    expect(registry.get('once')?.handler).toBe(first);
    expect(registry.get('once')?.callbacks).toHaveLength(1);
  });

  it('job registry - a callback or errback for an undefined job throws UnknownJobError', () => {
    const registry = new JobRegistry();
    expect(() => registry.callback('missing', () => {})).toThrow(UnknownJobError);
    expect(() => registry.errback('missing', 'named', () => {})).toThrow(UnknownJobError);
    expect(() => registry.callback({ name: 'missing' }, () => {})).toThrow(UnknownJobError);
  });

  it('job registry - callbacks and errbacks keep definition order and default to noname', () => {
    const registry = new JobRegistry();
    const ref = registry.define('chain', () => {});
    const a = (): void => {};
    const b = (): void => {};
    const c = (): void => {};
    registry.callback(ref, 'first', a);
    registry.callback('chain', b);
    registry.callback('chain', '', c);
    registry.errback(ref, a);
    registry.errback('chain', 'report', b);
    const def = registry.get('chain')!;
    expect(def.callbacks).toEqual([
      { name: 'first', fn: a },
      { name: 'noname', fn: b },
      { name: 'noname', fn: c },
    ]);
    expect(def.errbacks).toEqual([
      { name: 'noname', fn: a },
      { name: 'report', fn: b },
    ]);
  });

  it('job registry - names() lists jobs in definition order', () => {
    const registry = new JobRegistry();
    registry.define('b_job', () => {});
    registry.define('a_job', () => {});
    registry.define('c.job-1', () => {});
    expect(registry.names()).toEqual(['b_job', 'a_job', 'c.job-1']);
  });

  it('job registry - invalid names, handlers and options are rejected', () => {
    const registry = new JobRegistry();
    for (const name of ['', 'has space', 'a:b', '__proto__ x', 'x'.repeat(201)]) {
      expect(() => registry.define(name, () => {})).toThrow(InvalidArgumentError);
    }
    expect(() => registry.define('ok', 'nope' as never)).toThrow(InvalidArgumentError);
    expect(() => registry.define('t1', () => {}, { timeout: 0 })).toThrow(InvalidArgumentError);
    expect(() => registry.define('t2', () => {}, { timeout: Number.NaN })).toThrow(
      InvalidArgumentError,
    );
    expect(() => registry.define('t3', () => {}, { maxAttempt: 1.5 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => registry.define('t4', () => {}, { backoff: 5 as never })).toThrow(
      InvalidArgumentError,
    );
    registry.define('ok', () => {});
    expect(() => registry.callback('ok', 'name', undefined as never)).toThrow(InvalidArgumentError);
    expect(() => registry.errback('ok', 42 as never)).toThrow(InvalidArgumentError);
    expect(registry.names()).toEqual(['ok']);
  });

  it('job registry - __proto__ and friends never reach Object.prototype', () => {
    const registry = new JobRegistry();
    expect(registry.has('constructor')).toBe(false);
    expect(registry.has('__proto__')).toBe(false);
    registry.define('constructor', () => {});
    expect(registry.names()).toEqual(['constructor']);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('job registry - references carry the args type', () => {
    const registry = new JobRegistry();
    const ref = registry.define('typed', (args: { url: string }) => args.url.length);
    registry.callback(ref, (args) => {
      expectTypeOf(args.url).toEqualTypeOf<string>();
    });
    registry.errback(ref, (args) => {
      expectTypeOf(args.error).toEqualTypeOf<ErrorInfo>();
      expectTypeOf(args.url).toEqualTypeOf<string>();
    });
    expect(registry.get('typed')?.callbacks).toHaveLength(1);
  });
});
