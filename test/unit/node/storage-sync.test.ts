import { describe, expect, it, vi } from 'vitest';
import { StorageError } from '../../../src/errors.ts';
import type { Logger } from '../../../src/model/logger.ts';
import { StorageSync, asStorageError } from '../../../src/node/lifecycle/storage-sync.ts';
import { flush } from './runner-helpers.ts';

function makeSync() {
  const log = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
  const reported: StorageError[] = [];
  return { sync: new StorageSync(log, (e) => reported.push(e)), log, reported };
}

describe('storage sync', () => {
  it('storage sync - failed: wraps a foreign error, logs it with the job id, reports it', () => {
    const { sync, log, reported } = makeSync();
    const cause = new Error('ECONNREFUSED');
    sync.failed(cause, 'job-1');
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(StorageError);
    expect(reported[0]!.message).toBe('storage operation failed');
    expect(reported[0]!.cause).toBe(cause);
    expect(log.error).toHaveBeenCalledWith(
      { err: cause, jobId: 'job-1' },
      'storage operation failed',
    );
  });

  it('storage sync - failed: a StorageError is reported as it is', () => {
    const { sync, reported } = makeSync();
    const err = new StorageError('redis is gone');
    sync.failed(err, 'job-1');
    expect(reported).toEqual([err]);
    expect(reported[0]).toBe(err);
  });

  it('storage sync - replay runs every remembered write once and forgets it', async () => {
    const { sync, reported } = makeSync();
    const a = vi.fn(async () => {});
    const b = vi.fn(async () => {});
    sync.remember('a', a);
    sync.remember('b', b);
    expect(sync.size).toBe(2);
    sync.replay();
    expect(sync.size).toBe(0);
    await flush();
    sync.replay();
    await flush();
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    expect(reported).toEqual([]);
  });

  it('storage sync - a later write of the same job replaces the earlier one', async () => {
    const { sync } = makeSync();
    const first = vi.fn(async () => {});
    const second = vi.fn(async () => {});
    sync.remember('job-1', first);
    sync.remember('job-1', second);
    expect(sync.size).toBe(1);
    sync.replay();
    await flush();
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('storage sync - a write that fails again is kept for the next replay and reported', async () => {
    const { sync, reported } = makeSync();
    let fail = true;
    const write = vi.fn(async () => {
      if (fail) throw new Error('still down');
    });
    const ok = vi.fn(async () => {});
    sync.remember('job-1', write);
    sync.remember('job-2', ok);
    sync.replay();
    await flush();
    expect(sync.size).toBe(1);
    expect(reported).toHaveLength(1);
    expect(reported[0]!.cause).toBeInstanceOf(Error);
    fail = false;
    sync.replay();
    await flush();
    expect(sync.size).toBe(0);
    expect(write).toHaveBeenCalledTimes(2);
    expect(ok).toHaveBeenCalledTimes(1);
    expect(reported).toHaveLength(1);
  });

  it('storage sync - asStorageError keeps a StorageError, wraps anything else', () => {
    const own = new StorageError('own');
    expect(asStorageError(own, 'unused')).toBe(own);
    const wrapped = asStorageError('boom', 'could not store the job');
    expect(wrapped).toBeInstanceOf(StorageError);
    expect(wrapped.message).toBe('could not store the job');
    expect(wrapped.cause).toBe('boom');
  });
});
