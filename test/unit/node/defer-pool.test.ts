import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../src/model/logger.ts';
import { DeferPool } from '../../../src/node/running/defer-pool.ts';
import { ThreadPool } from '../../../src/node/running/thread-pool.ts';

const JOB_DIR = fileURLToPath(new URL('../../fixtures/defer-jobs', import.meta.url));

/** Mocks, not Logger methods: assertions read them unbound. */
function fakeLog() {
  return { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
}

describe('defer pool', () => {
  it('defer pool - no job directory: no pool, and one warning however often asked', async () => {
    const log = fakeLog();
    const pool = new DeferPool({ jobDirectory: undefined, threads: undefined, log });
    expect(pool.get()).toBeUndefined();
    expect(pool.get()).toBeUndefined();
    expect(log.warn).toHaveBeenCalledTimes(1);
    await expect(pool.close()).resolves.toBeUndefined();
  });

  it('defer pool - nothing started until first asked; close without one is a no-op', async () => {
    const pool = new DeferPool({ jobDirectory: JOB_DIR, threads: 1, log: fakeLog() });
    await expect(pool.close()).resolves.toBeUndefined();
  });

  it('defer pool - started on first use, the same pool afterwards, closed by close()', async () => {
    const close = vi.spyOn(ThreadPool.prototype, 'close');
    try {
      const pool = new DeferPool({ jobDirectory: JOB_DIR, threads: 1, log: fakeLog() });
      const first = pool.get();
      expect(first).toBeInstanceOf(ThreadPool);
      expect(pool.get()).toBe(first);
      await pool.close();
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      close.mockRestore();
    }
  });
});
