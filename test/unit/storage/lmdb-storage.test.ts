import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, StorageCorruptError, StorageError } from '../../../src/errors.ts';
import type { Feedback, JobRecord } from '../../../src/model/job.ts';
import { createStorage } from '../../../src/storage/create-storage.ts';
import { acquireLmdb } from '../../../src/storage/lmdb-env.ts';
import { LmdbStorage } from '../../../src/storage/lmdb-storage.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { describeJobStorageConformance } from '../../conformance/job-storage.conformance.ts';

// One directory for the file, as one Redis server: every factory() call of a test shares it.
const dir = mkdtempSync(join(tmpdir(), 'jr-lmdb-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeJobStorageConformance('lmdb', async () => ({
  storage: new LmdbStorage({ path: dir }),
  cleanup: async () => {},
}));

describeJobStorageConformance('lmdb (sync: commit)', async () => ({
  storage: new LmdbStorage({ path: join(dir, 'commit'), sync: 'commit' }),
  cleanup: async () => {},
}));

describe('lmdb storage', () => {
  const made: LmdbStorage[] = [];
  afterEach(async () => {
    for (const s of made.splice(0)) await s.close();
  });
  async function opened(path: string, node = 'n1', sync: 'flush' | 'commit' = 'flush') {
    const s = new LmdbStorage({ path, sync });
    made.push(s);
    await s.open(node);
    return s;
  }
  const sub = (name: string) => join(dir, 'own', name);

  it('lmdb storage - is durable; jobs and feedbacks survive a close and a new instance', async () => {
    const path = sub('reopen');
    const a = new LmdbStorage({ path });
    expect(a.durable).toBe(true);
    await a.open('n1');
    await a.save(record('j1'));
    await a.finish('j2', undefined, feedback('j2'));
    await a.close();
    const b = await opened(path);
    expect(await b.load('j1')).toStrictEqual(record('j1'));
    expect((await b.listFeedbacks()).map((f) => f.key)).toEqual(['j2:success']);
  });

  it('lmdb storage - createStorage takes lmdb:<dir> (created when missing) and a sync mode', async () => {
    const path = sub('made/by/spec');
    const s = createStorage(`lmdb:${path}`, { lmdbSync: 'commit' });
    expect(s).toBeInstanceOf(LmdbStorage);
    expect((s as LmdbStorage).sync).toBe('commit');
    await s.open('n1');
    made.push(s as LmdbStorage);
    expect(existsSync(join(path, 'data.mdb'))).toBe(true);
    expect(() => createStorage('lmdb:')).toThrow(InvalidArgumentError);
    expect(() => new LmdbStorage({ path, sync: 'never' as 'flush' })).toThrow(InvalidArgumentError);
  });

  it('lmdb storage - bad paths reject with InvalidArgumentError, a store that is not LMDB with StorageCorruptError', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    await expect(new LmdbStorage({ path: file }).open('n1')).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(new LmdbStorage({ path: join(file, 'sub') }).open('n1')).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const foreign = sub('foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'data.mdb'), randomBytes(20_000));
    await expect(new LmdbStorage({ path: foreign }).open('n1')).rejects.toMatchObject({
      code: 'JR_ERR_STORAGE_CORRUPT',
    });
    // A real store cut short (a bad copy): refused before LMDB maps past the end of the file.
    const whole = await opened(sub('whole'));
    for (let i = 0; i < 2000; i++)
      void whole.save({ ...record(`w${i}`), args: { pad: 'x'.repeat(200) } });
    await whole.save(record('last'));
    await whole.close();
    const cut = sub('cut');
    mkdirSync(cut, { recursive: true });
    writeFileSync(
      join(cut, 'data.mdb'),
      readFileSync(join(sub('whole'), 'data.mdb')).subarray(0, 3 * 4096),
    );
    await expect(new LmdbStorage({ path: cut }).open('n1')).rejects.toBeInstanceOf(
      StorageCorruptError,
    );
  });

  it.skipIf(!unwritableRoot())(
    'lmdb storage - a directory that cannot be created rejects with StorageError',
    async () => {
      const err = await new LmdbStorage({ path: join(unwritableRoot()!, `jr-${process.pid}`) })
        .open('n1')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('JR_ERR_STORAGE');
    },
  );

  it('lmdb storage - the writes of one turn are one transaction', async () => {
    const s = await opened(sub('group'));
    const db = await acquireLmdb(s.path);
    try {
      await s.save(record('warm'));
      const before = db.root.getStats() as { lastTxnId: number };
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) writes.push(s.save(record(`g${i}`)));
      writes.push(s.finish('g0', undefined, feedback('g0')), s.removeFeedback(['none']));
      await Promise.all(writes);
      const after = db.root.getStats() as { lastTxnId: number };
      expect(after.lastTxnId - before.lastTxnId).toBe(1);
      expect(await s.list()).toHaveLength(1000);
    } finally {
      await db.release();
    }
  });

  it('lmdb storage - markStarted resolves at once (a start mark, no transaction); reads show the job started; all is there after a close and a reopen', async () => {
    const path = sub('marks');
    const a = new LmdbStorage({ path });
    await a.open('n1');
    await Promise.all([a.save(record('m1')), ...range(20).map((i) => a.save(record(`s${i}`)))]);
    const order: string[] = [];
    const started = { ...record('m1'), status: 'in progress' as const, attempt: 1, startedAt: 7 };
    const mark = a.markStarted(started).then(() => order.push('marked'));
    const save = a.save(record('m2')).then(() => order.push('saved'));
    await Promise.all([mark, save]);
    expect(order).toEqual(['marked', 'saved']);
    expect(await a.load('m1')).toMatchObject({ status: 'in progress', attempt: 1, startedAt: 7 });
    expect((await a.list({ status: 'in progress' })).map((r) => r.id)).toEqual(['m1']);
    for (let i = 0; i < 20; i++) {
      await a.markStarted({ ...record(`s${i}`), status: 'in progress', attempt: 1, startedAt: 9 });
    }
    await a.close();
    const b = await opened(path);
    expect(await b.load('m1')).toMatchObject({ status: 'in progress', attempt: 1, startedAt: 7 });
    expect(await b.list({ status: 'in progress' })).toHaveLength(21);
    expect(await b.list()).toHaveLength(22);
  });

  it('lmdb storage - a feedback removal with no batch open waits for the next write and rides in its transaction; reads see it gone at once', async () => {
    const clock = new FakeClock(Date.now());
    const s = new LmdbStorage({ path: sub('lazy'), clock });
    made.push(s);
    await s.open('n1');
    const db = await acquireLmdb(s.path);
    try {
      await Promise.all([s.finish('a', undefined, feedback('a')), s.saveFeedback(feedback('b'))]);
      const txn = () => (db.root.getStats() as { lastTxnId: number }).lastTxnId;
      const before = txn();
      const removed = s.removeFeedback(['a:success']);
      expect((await s.listFeedbacks()).map((f) => f.key)).toEqual(['b:success']);
      await new Promise((r) => setImmediate(r));
      expect(txn()).toBe(before); // no transaction of its own
      await Promise.all([s.save(record('next')), removed]);
      expect(txn()).toBe(before + 1);
      const raw = await db.feedbacks.getRange({}).asArray;
      expect(raw).toHaveLength(1);
      // With no other write, it goes on its own after LAZY_REMOVAL_MS (10 ms).
      const alone = s.removeFeedback(['b:success']);
      await new Promise((r) => setImmediate(r));
      expect(txn()).toBe(before + 1);
      clock.advance(10);
      await alone;
      expect(txn()).toBe(before + 2);
      expect(await db.feedbacks.getRange({}).asArray).toHaveLength(0);
    } finally {
      await db.release();
    }
  });

  it('lmdb storage - a feedback saved again after its lazy removal stays; close writes the removals still waiting', async () => {
    const path = sub('lazy-close');
    const a = new LmdbStorage({ path, clock: new FakeClock(Date.now()) });
    await a.open('n1');
    await Promise.all([a.saveFeedback(feedback('x')), a.saveFeedback(feedback('y'))]);
    void a.removeFeedback(['x:success']);
    await a.saveFeedback(feedback('x'));
    void a.removeFeedback(['y:success']);
    expect((await a.listFeedbacks()).map((f) => f.key)).toEqual(['x:success']);
    await a.close(); // the fake clock never fires: close sends it
    const b = await opened(path);
    expect((await b.listFeedbacks()).map((f) => f.key)).toEqual(['x:success']);
  });

  it('lmdb storage - reads see writes not yet committed', async () => {
    const s = await opened(sub('pending'));
    const saved = s.save(record('p1'));
    expect((await s.load('p1'))?.id).toBe('p1');
    expect((await s.list()).map((r) => r.id)).toEqual(['p1']);
    const removed = s.remove('p1');
    expect(await s.load('p1')).toBeUndefined();
    expect(await s.list()).toEqual([]);
    await Promise.all([saved, removed]);
    expect(await s.load('p1')).toBeUndefined();
  });

  it('lmdb storage - ids of every shape are keys of their own node only', async () => {
    const path = sub('ids');
    const a = await opened(path, 'a');
    const ab = await opened(path, 'ab');
    const ids = [
      '0194f3c2-7a10-7000-8abc-0123456789ab',
      '0194F3C2-7A10-7000-8ABC-0123456789AB',
      'key',
      '',
    ];
    for (const id of ids) await a.save({ ...record(id, 'a') });
    await ab.save(record('key', 'ab'));
    expect((await a.list()).map((r) => r.id).sort()).toEqual([...ids].sort());
    expect((await ab.list()).map((r) => r.id)).toEqual(['key']);
  });
});

function unwritableRoot(): string | undefined {
  // Root writes through file modes, so a pseudo file system stands in for a read-only disk.
  try {
    mkdirSync(`/sys/jr-probe-${process.pid}`);
    rmSync(`/sys/jr-probe-${process.pid}`, { recursive: true });
    return undefined;
  } catch {
    return existsSync('/sys') ? '/sys' : undefined;
  }
}

function record(id: string, node = 'n1'): JobRecord {
  return {
    id,
    name: 'job',
    args: { nested: { value: 1 } },
    distributor: 'd',
    enqueuedAt: 0,
    runAt: 0,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: 0,
    runs: 0,
    updatedAt: 0,
  };
}

function feedback(jobId: string): Feedback {
  return {
    key: `${jobId}:success`,
    jobId,
    distributor: 'd',
    node: 'n1',
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
