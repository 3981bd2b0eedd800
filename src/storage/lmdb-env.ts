import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type * as Lmdb from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import {
  InvalidArgumentError,
  StorageCorruptError,
  StorageError,
  type JobReactorError,
} from '../errors.ts';

/** The `lmdb` package's module (an optional peer dependency, loaded on first use). */
type LmdbModule = typeof Lmdb;

/** The three databases of one store directory. */
export interface LmdbDbs {
  root: RootDatabase<Buffer, Buffer>;
  /** `<node>\0<id>` (see lmdb-keys.ts) → a record of `record-codec.ts`. */
  jobs: Database<Buffer, Buffer>;
  /** `<node>\0<feedback key>` → a feedback of `record-codec.ts`. */
  feedbacks: Database<Buffer, Buffer>;
  /** `lease/<node>` → the lease record (see lmdb-lease.ts); its version is the fencing token. */
  meta: Database<unknown, string>;
}

/** One open store: its databases and the resolved directory. */
export interface LmdbHandle extends LmdbDbs {
  readonly dir: string;
  /** Gives the handle back; the environment closes with the last one. */
  release(): Promise<void>;
}

/** `'lmdb:<dir>'` → the directory (resolved); undefined when `spec` is not an LMDB spec. */
export function parseLmdbSpec(spec: string): string | undefined {
  if (!/^lmdb:/i.test(spec)) return undefined;
  const dir = spec.slice('lmdb:'.length);
  if (dir.trim() === '' || dir.includes('\0')) {
    throw new InvalidArgumentError(
      `storage 'lmdb:<path>' needs a directory path (got ${JSON.stringify(spec)})`,
    );
  }
  return resolve(dir);
}

let lmdbModule: Promise<LmdbModule> | undefined;

/** The `lmdb` package, or InvalidArgumentError naming `npm install lmdb` when it is missing. */
function loadLmdb(): Promise<LmdbModule> {
  // Cached like any module import: import() itself would return the same module.
  lmdbModule ??= import('lmdb').catch((err: unknown) => {
    lmdbModule = undefined;
    throw new InvalidArgumentError(
      "storage 'lmdb:…' needs the package lmdb, which is not installed: run `npm install lmdb` (an optional peer dependency of job-reactor)",
      { cause: err },
    );
  });
  return lmdbModule;
}

/**
 * Open environments by real path, shared by every storage and monitor of this process.
 * Module-level on purpose: LMDB forbids opening one environment twice in a process (its
 * locks are per process), and lmdb-js shares one native environment between such opens
 * and closes it under all of them when one closes. So opens are counted here.
 */
const open = new Map<string, { dbs: Promise<LmdbDbs>; users: number }>();

/**
 * Opens (or shares) the store in directory `dir`, creating the directory when missing.
 * Bad paths reject with InvalidArgumentError, an unwritable directory with StorageError,
 * files that are not an LMDB store with StorageCorruptError.
 */
export async function acquireLmdb(dir: string): Promise<LmdbHandle> {
  const lmdb = await loadLmdb();
  const real = prepareDirectory(dir);
  let entry = open.get(real);
  if (entry === undefined) {
    entry = { dbs: Promise.resolve().then(() => openDbs(lmdb, real)), users: 0 };
    open.set(real, entry);
    entry.dbs.catch(() => open.delete(real));
  }
  entry.users++;
  let dbs: LmdbDbs;
  try {
    dbs = await entry.dbs;
  } catch (err) {
    entry.users--;
    throw err;
  }
  let released = false;
  const e = entry;
  return {
    ...dbs,
    dir: real,
    release: async () => {
      if (released) return;
      released = true;
      if (--e.users > 0) return;
      open.delete(real);
      await dbs.root.close();
    },
  };
}

function prepareDirectory(dir: string): string {
  let stat;
  try {
    stat = statSync(dir, { throwIfNoEntry: false });
    if (stat === undefined) mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fsError(err, `cannot create the LMDB store directory ${dir}`);
  }
  if (stat !== undefined && !stat.isDirectory()) {
    throw new InvalidArgumentError(`LMDB store path ${dir} exists and is not a directory`);
  }
  try {
    accessSync(dir, constants.R_OK | constants.W_OK);
    return realpathSync(dir);
  } catch (err) {
    throw fsError(err, `LMDB store directory ${dir} is not writable`);
  }
}

/**
 * Where LMDB's meta pages (pages 0 and 1) keep what is checked here: the magic number after
 * the 24-byte page header, the page size (`mm_psize`) and the last page in use (`mm_last_pg`).
 */
const META = { magic: 24, psize: 48, lastPage: 144, end: 152 } as const;
const LMDB_MAGIC = 0xbeefc0de;

/**
 * Refuses a `data.mdb` that is not an LMDB store, or is shorter than its own meta pages say
 * (truncated): the native library trusts the file, and a foreign or cut one can crash the
 * process (SIGSEGV, SIGBUS) instead of failing.
 */
function assertLmdbFile(dir: string): void {
  const file = join(dir, 'data.mdb');
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return; // a new store
    throw fsError(err, `cannot read the LMDB store ${file}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return; // created and never written: LMDB initialises it
    const page0 = readAt(fd, 0);
    const bad = (why: string) =>
      new StorageCorruptError(`${file} ${why}: move it away, or restore it from a copy`);
    if (page0 === undefined || page0.readUInt32LE(META.magic) !== LMDB_MAGIC) {
      throw bad('is not an LMDB store (no LMDB meta page at its start)');
    }
    const psize = page0.readUInt32LE(META.psize);
    const page1 = readAt(fd, psize);
    if (page1 === undefined || page1.readUInt32LE(META.magic) !== LMDB_MAGIC) {
      throw bad('is damaged (its second meta page is missing)');
    }
    const last = Math.min(
      Number(page0.readBigUInt64LE(META.lastPage)),
      Number(page1.readBigUInt64LE(META.lastPage)),
    );
    if (size < (last + 1) * psize) {
      throw bad(`is truncated (${size} bytes; its meta pages use ${(last + 1) * psize})`);
    }
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number): Buffer | undefined {
  const buf = Buffer.alloc(META.end);
  return readSync(fd, buf, 0, buf.length, position) === buf.length ? buf : undefined;
}

function openDbs(lmdb: LmdbModule, dir: string): LmdbDbs {
  assertLmdbFile(dir);
  let root: RootDatabase<Buffer, Buffer> | undefined;
  try {
    root = lmdb.open<Buffer, Buffer>({
      path: dir,
      keyEncoding: 'binary',
      encoding: 'binary',
      // Writes resolve on commit and carry a `flushed` promise: the storage waits for the
      // flush or not (its `sync` option) without switching environment flags, which every
      // opener of a directory must share.
      separateFlushed: true,
      maxDbs: 8,
      noMemInit: true,
    });
    const jobs = root.openDB<Buffer, Buffer>('jobs', { keyEncoding: 'binary', encoding: 'binary' });
    const feedbacks = root.openDB<Buffer, Buffer>('feedbacks', {
      keyEncoding: 'binary',
      encoding: 'binary',
    });
    const meta = root.openDB<unknown, string>('meta', {
      keyEncoding: 'ordered-binary',
      encoding: 'msgpack',
      useVersions: true,
    });
    return { root, jobs, feedbacks, meta };
  } catch (err) {
    void root?.close().catch(() => undefined);
    throw lmdbError(err, `cannot open the LMDB store in ${dir}`);
  }
}

/** Errors of the lmdb package → StorageCorruptError (not a valid store) or StorageError. */
export function lmdbError(err: unknown, what: string): JobReactorError {
  const message = err instanceof Error ? err.message : String(err);
  if (
    /MDB_INVALID|MDB_CORRUPTED|MDB_VERSION_MISMATCH|MDB_PAGE_NOTFOUND|not an LMDB/i.test(message)
  ) {
    return new StorageCorruptError(
      `${what}: the files there are not a valid LMDB store (${message})`,
      {
        cause: err,
      },
    );
  }
  const code = (err as { code?: unknown }).code;
  if (
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS' ||
    /permission denied|read-only/i.test(message)
  ) {
    return new StorageError(`${what}: not writable (${message})`, { cause: err });
  }
  return new StorageError(`${what}: ${message}`, { cause: err });
}

function fsError(err: unknown, what: string): JobReactorError {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'EINVAL') {
    return new InvalidArgumentError(`${what}: not a usable path (${String(code)})`, { cause: err });
  }
  const why = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return new StorageError(`${what} (${why})`, { cause: err });
}
