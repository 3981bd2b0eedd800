import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError } from '../../../src/errors.ts';
import type { Clock } from '../../../src/model/clock.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import { LmdbMonitor } from '../../../src/storage/lmdb-monitor.ts';
import { LmdbStorage } from '../../../src/storage/lmdb-storage.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
const NOW = T0 + 3_600_000;
const fixedClock: Clock = { now: () => NOW, setTimer: () => ({}), clearTimer: () => {} };
const root = mkdtempSync(join(tmpdir(), 'jr-lmdb-monitor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function job(node: string, id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'send_email',
    args: { to: 'a@example.com' },
    distributor: 'dist-1',
    enqueuedAt: T0,
    runAt: T0,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: T0,
    runs: 0,
    updatedAt: T0,
    ...over,
  };
}

describe('lmdb monitor', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const x of open.splice(0)) await x.close();
  });
  async function fixture() {
    const path = join(root, `m${n++}`);
    const a = new LmdbStorage({ path });
    const ba = new LmdbStorage({ path });
    await a.open('a');
    await ba.open('ba');
    await a.save(job('a', 'j1'));
    await a.save(
      job('a', 'j2', {
        status: 'failed',
        attempt: 5,
        failedAt: T0 + 20,
        lastError: { name: 'E', code: 'C', message: 'm' },
      }),
    );
    await a.saveFeedback({
      key: 'f1',
      jobId: 'j0',
      distributor: 'dist-1',
      node: 'a',
      outcome: 'success',
      final: true,
      args: {},
      attempt: 1,
    });
    await ba.save(job('ba', 'j1'));
    const monitor = new LmdbMonitor({ path, clock: fixedClock });
    open.push(monitor, a, ba);
    return { path, a, ba, monitor };
  }

  it('lmdb monitor - lists nodes with counts, jobs by status, one job', async () => {
    const { monitor } = await fixture();
    expect(await monitor.nodes()).toEqual([
      { name: 'a', jobs: 2, feedbacks: 1 },
      { name: 'ba', jobs: 1, feedbacks: 0 },
    ]);
    expect((await monitor.jobs('a')).map((j) => j.id)).toEqual(['j1', 'j2']);
    expect((await monitor.jobs('a', { status: 'failed' })).map((j) => j.id)).toEqual(['j2']);
    expect((await monitor.load('ba', 'j1'))?.node).toBe('ba');
    expect(await monitor.load('a', 'nope')).toBeUndefined();
  });

  it('lmdb monitor - retry puts a failed job back to error, due now; the node sees it', async () => {
    const { monitor, a } = await fixture();
    const next = await monitor.retry('a', 'j2');
    expect(next).toMatchObject({ status: 'error', attempt: 0, dueAt: NOW });
    expect(next).not.toHaveProperty('failedAt');
    expect(await a.load('j2')).toStrictEqual(next);
    await expect(monitor.retry('a', 'j1')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(monitor.retry('a', 'nope')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('lmdb monitor - remove one job; remove-all refuses a running node and clears a stopped one', async () => {
    const { monitor, a } = await fixture();
    expect(await monitor.remove('a', 'j1')).toBe(true);
    expect(await monitor.remove('a', 'j1')).toBe(false);
    await expect(monitor.removeAll('a')).rejects.toBeInstanceOf(InvalidArgumentError);
    await a.close();
    expect(await monitor.removeAll('a')).toEqual({ jobs: 1, feedbacks: 1 });
    expect((await monitor.nodes()).map((x) => x.name)).toEqual(['ba']);
    expect(await monitor.jobs('ba')).toHaveLength(1);
  });

  it('lmdb monitor - calls after close reject with ClosedError', async () => {
    const { monitor } = await fixture();
    await monitor.close();
    await expect(monitor.nodes()).rejects.toBeInstanceOf(ClosedError);
  });
});
