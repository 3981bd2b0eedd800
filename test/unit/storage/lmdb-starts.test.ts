import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/model/logger.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import { resumeStoredJobs } from '../../../src/node/lifecycle/resume-jobs.ts';
import { LmdbStorage } from '../../../src/storage/lmdb-storage.ts';
import { StartMarks } from '../../../src/storage/lmdb-starts.ts';
import { storedJob } from '../../helpers/job-records.ts';
import { lmdbStores } from '../../helpers/lmdb-stores.ts';

const DIE = fileURLToPath(new URL('../../fixtures/lmdb/mark-and-die.ts', import.meta.url));

const { freshDir, open: openStored } = lmdbStores('jr-lmdb-starts-');
const openStorage = (dir: string, node = 'n1') => openStored(dir, node);

/** Runs the fixture's scenario in a child process, which SIGKILLs itself. */
async function markAndDie(dir: string, scenario: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', DIE, dir, 'n1', scenario], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, sig) => resolve(sig)),
  );
  expect(signal).toBe('SIGKILL');
}

describe('lmdb start marks', () => {
  it('lmdb start marks - a SIGKILL while jobs run: the restart finds them in progress at the marked attempt, and resume counts a crash', async () => {
    const dir = freshDir();
    await markAndDie(dir, 'running');
    const s = await openStorage(dir);
    expect(await s.load('run-1')).toMatchObject({
      status: 'in progress',
      attempt: 1,
      startedAt: 1001,
    });
    expect(await s.load('run-2')).toMatchObject({ status: 'in progress', attempt: 3 });
    expect(await s.load('run-3')).toMatchObject({ status: 'in progress', attempt: 1, runs: 4 });
    const taken: JobRecord[] = [];
    await resumeStoredJobs(s, (r) => taken.push(r), silentLogger, 'n1');
    expect(taken.map((r) => [r.id, r.crashes]).sort()).toEqual([
      ['run-1', 1],
      ['run-2', 1],
      ['run-3', 1],
    ]);
  }, 20_000);

  it('lmdb start marks - marks whose outcome was written, or left by an earlier job of a reused id, count nothing after a SIGKILL', async () => {
    const dir = freshDir();
    await markAndDie(dir, 'ended');
    const s = await openStorage(dir);
    expect(await s.load('done')).toBeUndefined();
    expect((await s.listFeedbacks()).map((f) => f.key)).toEqual(['done']);
    expect(await s.load('retry')).toMatchObject({ status: 'error', attempt: 1 });
    expect(await s.load('periodic')).toMatchObject({ status: 'queued', attempt: 0, runs: 2 });
    expect(await s.load('reused')).toMatchObject({ status: 'new', attempt: 0, enqueuedAt: 5 });
    expect(await s.load('last')).toMatchObject({
      status: 'in progress',
      attempt: 1,
      startedAt: 2007,
    });
  }, 20_000);

  it('lmdb start marks - an id too long for a cell is marked in a transaction, found in progress after a SIGKILL', async () => {
    const dir = freshDir();
    await markAndDie(dir, 'long-id');
    const s = await openStorage(dir);
    expect(await s.load(`long-${'x'.repeat(120)}`)).toMatchObject({
      status: 'in progress',
      startedAt: 3001,
    });
  }, 20_000);

  it('lmdb start marks - a close writes the marks still held into their records; the file is emptied at open', async () => {
    const dir = freshDir();
    const a = new LmdbStorage({ path: dir });
    await a.open('n1');
    const r = record('held');
    await a.save(r);
    await a.markStarted({ ...r, status: 'in progress', attempt: 1, startedAt: 5, updatedAt: 5 });
    await a.close();
    const b = await openStorage(dir);
    expect(await b.load('held')).toMatchObject({ status: 'in progress', attempt: 1, startedAt: 5 });
    // Written once: a second restart does not count the same start again.
    await b.close(); // (closing it again after the test is a no-op)
    const c = await openStorage(dir);
    expect(await c.load('held')).toMatchObject({ status: 'in progress', attempt: 1 });
  });

  it('lmdb start marks - cells: written, released and reused, read back; torn or foreign bytes are ignored', () => {
    const dir = freshDir();
    const file = join(dir, 'marks');
    const m = new StartMarks(file);
    expect(m.open()).toEqual([]);
    const mark = (id: string, attempt = 1) => ({
      id,
      runs: 0,
      attempt,
      startedAt: 10,
      enqueuedAt: 1,
    });
    expect(m.mark(mark('a'))).toBe(true);
    expect(m.mark(mark('b'))).toBe(true);
    expect(m.mark(mark('a', 2))).toBe(true); // same cell, overwritten
    expect(m.size).toBe(2);
    m.release('a');
    expect(m.get('a')).toBeUndefined();
    expect(m.mark(mark('c'))).toBe(true); // a's cell
    expect(m.mark(mark('é'.repeat(60)))).toBe(false); // 120 bytes: too long
    m.close();
    const back = new StartMarks(file);
    expect(
      back
        .open()
        .map((x) => [x.id, x.attempt])
        .sort(),
    ).toEqual([
      ['b', 1],
      ['c', 1],
    ]);
    back.reset();
    back.close();
    writeFileSync(file, Buffer.alloc(1000, 0xab));
    const garbage = new StartMarks(file);
    expect(garbage.open()).toEqual([]);
    garbage.close();
  });

  it('lmdb start marks - the marks of one turn are written together, in a microtask: durable() resolves after that write', async () => {
    const dir = freshDir();
    const file = join(dir, 'marks');
    const m = new StartMarks(file);
    m.open();
    for (let i = 0; i < 100; i++) {
      m.mark({ id: `j${i}`, runs: 0, attempt: 1, startedAt: 10, enqueuedAt: 1 });
    }
    expect(statSync(file).size).toBe(0); // nothing written during the turn
    await m.durable();
    expect(statSync(file).size).toBe(100 * 128);
    m.release('j0');
    m.mark({ id: 'k', runs: 0, attempt: 1, startedAt: 11, enqueuedAt: 1 }); // j0's cell
    await m.durable();
    expect(statSync(file).size).toBe(100 * 128);
    m.close();
    const back = new StartMarks(file);
    const read = back.open();
    expect(read).toHaveLength(100);
    expect(read[0]).toEqual({ id: 'k', runs: 0, attempt: 1, startedAt: 11, enqueuedAt: 1 });
    back.close();
  });

  it('lmdb start marks - closed: marking throws; opened twice: throws; close is idempotent', () => {
    const m = new StartMarks(join(freshDir(), 'marks'));
    expect(() => m.mark({ id: 'a', runs: 0, attempt: 1, startedAt: 1, enqueuedAt: 1 })).toThrow(
      /not open/,
    );
    m.open();
    expect(() => m.open()).toThrow(/open already/);
    m.close();
    m.close();
    expect(() => m.reset()).toThrow(/not open/);
  });
});

function record(id: string): JobRecord {
  return storedJob(id, 'n1');
}
