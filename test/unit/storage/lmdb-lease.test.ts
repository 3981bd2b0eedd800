import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DuplicateNodeError, LeaseLostError } from '../../../src/errors.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import type { StorageOwner } from '../../../src/storage/job-storage.ts';
import { acquireLmdb } from '../../../src/storage/lmdb-env.ts';
import { leaseKey } from '../../../src/storage/lmdb-keys.ts';
import { LmdbStorage } from '../../../src/storage/lmdb-storage.ts';
import { currentProcess } from '../../../src/storage/process-identity.ts';
import { storedJob } from '../../helpers/job-records.ts';
import { lmdbStores } from '../../helpers/lmdb-stores.ts';

const HOLDER = fileURLToPath(new URL('../../fixtures/lmdb/hold-lease.ts', import.meta.url));

const { freshDir, open: openStorage } = lmdbStores('jr-lmdb-lease-');

function job(node: string, id: string): JobRecord {
  return storedJob(id, node, { name: 'j' });
}

/** A real process holding node `name`'s lease in `dir`, writing until killed. */
async function holder(dir: string, name: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, dir, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
    child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
  });
  return { child, exited };
}

describe('lmdb lease', () => {
  it('lmdb lease - a second live storage of the same name and directory fails with DuplicateNodeError', async () => {
    const dir = freshDir();
    await openStorage(dir, 'n1');
    const second = new LmdbStorage({ path: dir });
    await expect(second.open('n1')).rejects.toBeInstanceOf(DuplicateNodeError);
    await expect(second.open('n1')).rejects.toMatchObject({ code: 'JR_ERR_DUPLICATE_NODE' });
    // Other names in the same directory are other leases.
    await openStorage(dir, 'n2');
  });

  it('lmdb lease - a name held by another live process is refused; once it is SIGKILLed the store is taken back at once', async () => {
    const dir = freshDir();
    const h = await holder(dir, 'k1');
    await expect(new LmdbStorage({ path: dir }).open('k1')).rejects.toBeInstanceOf(
      DuplicateNodeError,
    );
    h.child.kill('SIGKILL');
    await h.exited;
    const s = await openStorage(dir, 'k1'); // no TTL to wait out: the holder is provably gone
    expect((await s.list()).length).toBeGreaterThan(0);
    await s.save(job('k1', 'after-takeover'));
  }, 30_000);

  it('lmdb lease - a clean close frees the name for the next open', async () => {
    const dir = freshDir();
    const a = new LmdbStorage({ path: dir });
    await a.open('c1');
    await a.save(job('c1', 'kept'));
    await a.close();
    const b = await openStorage(dir, 'c1');
    expect((await b.load('kept'))?.id).toBe('kept');
  });

  it('lmdb lease - a recorded holder with our pid but another start time is a reused pid: taken over', async () => {
    const dir = freshDir();
    const db = await acquireLmdb(dir);
    const me = currentProcess();
    await db.meta.put(
      leaseKey('r1'),
      { ...me, start: `${me.start}9`, instance: 'dead', beat: Date.now() },
      1,
    );
    await db.release();
    const s = await openStorage(dir, 'r1');
    await s.save(job('r1', 'x'));
  });

  it('lmdb lease - a holder that cannot be checked (another host) holds the name until its heartbeat is a TTL old', async () => {
    const dir = freshDir();
    const db = await acquireLmdb(dir);
    const other = { ...currentProcess(), host: 'elsewhere', instance: 'remote' };
    await db.meta.put(leaseKey('h1'), { ...other, beat: Date.now() }, 1);
    await expect(new LmdbStorage({ path: dir }).open('h1')).rejects.toBeInstanceOf(
      DuplicateNodeError,
    );
    await db.meta.put(leaseKey('h1'), { ...other, beat: Date.now() - 60_000 }, 1);
    await db.release();
    await openStorage(dir, 'h1');
  });

  it('lmdb lease - after a takeover the old holder is fenced: its writes fail with LeaseLostError and it hears lost()', async () => {
    const dir = freshDir();
    const lost: string[] = [];
    const owner: StorageOwner = {
      instance: 'old',
      accepts: () => true,
      renewed: () => {},
      lost: (h) => lost.push(h),
      vanished: () => {},
      adopted: () => {},
    };
    const s = await openStorage(dir, 'f1', owner);
    await s.save(job('f1', 'before'));
    expect(s.leaseValid).toBe(true);
    // What a process that found this one's heartbeat stale would do: a new version.
    const db = await acquireLmdb(dir);
    const { version } = db.meta.getEntry(leaseKey('f1'))!;
    const usurper = { ...currentProcess(), host: 'elsewhere', instance: 'new', beat: Date.now() };
    await db.meta.put(leaseKey('f1'), usurper, version! + 1);
    await expect(s.save(job('f1', 'after'))).rejects.toBeInstanceOf(LeaseLostError);
    await s.renewLease();
    expect(s.leaseValid).toBe(false);
    expect(lost).toEqual(['pid ' + process.pid + ' on host elsewhere, instance new']);
    expect(db.jobs.getKeysCount()).toBe(1);
    await db.release();
  });
});
