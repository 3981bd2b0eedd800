import {
  closeSync,
  constants,
  ftruncateSync,
  fstatSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { StorageError } from '../errors.ts';

/**
 * What a start mark says: attempt `attempt` (run `runs`) of the job with this id, enqueued at
 * `enqueuedAt`, started at `startedAt`.
 */
export interface StartMark {
  id: string;
  runs: number;
  attempt: number;
  startedAt: number;
  enqueuedAt: number;
}

/**
 * One cell of the file (a power of two, so a cell never straddles a page):
 *   0 flag (1: used) · 1 id length in bytes · 2… the id (UTF-8, ≤ ID_BYTES) ·
 *   96 runs (u32) · 100 attempt (u32) · 104 startedAt (f64) · 112 enqueuedAt (f64) ·
 *   120 checksum of bytes 0–119 (u32)
 */
const CELL = 128;
export const ID_BYTES = 94;
const AT = { runs: 96, attempt: 100, startedAt: 104, enqueuedAt: 112, sum: 120 } as const;
const USED = 1;

/**
 * Lifecycle: closed --open()--> open --close()--> closed (open may be called again).
 *
 * The start marks of a node's running attempts, kept in a small file beside the LMDB store
 * (one per node name) instead of in LMDB. Marking is one `pwrite` of a 128-byte cell into
 * the page cache, synchronous: it survives a crash of the process (SIGKILL included) as an
 * LMDB commit does, which is all a start mark needs (a job found started at restart counts
 * a crash), without a write transaction per start. An attempt then starts at once instead
 * of waiting a commit with its run slot held (each slot's next job waited about a
 * transaction and a half: the LMDB node's throughput was its concurrency per commit).
 *
 * Each running job has its cell, reused by the next job once the job's next write (its
 * outcome) is issued; a cell is never cleared on the disk, so a stale one may remain: read
 * back, it counts only against a stored record of the same enqueue that it is ahead of (see
 * `LmdbStorage`). A cell whose checksum fails (torn by a machine crash) is ignored.
 */
export class StartMarks {
  readonly #file: string;
  #fd: number | undefined;
  readonly #cellOf = new Map<string, number>();
  readonly #marks = new Map<string, StartMark>();
  readonly #free: number[] = [];
  #cells = 0;
  /** One cell's bytes, reused by every write. */
  readonly #buf = Buffer.alloc(CELL);

  constructor(file: string) {
    this.#file = file;
  }

  /** Marks held now (running attempts whose outcome was not written yet). */
  get size(): number {
    return this.#marks.size;
  }

  /** closed → open: opens (or creates) the file and returns the marks it holds. */
  open(): StartMark[] {
    if (this.#fd !== undefined)
      throw new StorageError(`start marks ${this.#file} are open already`);
    try {
      this.#fd = openSync(this.#file, constants.O_RDWR | constants.O_CREAT, 0o600);
      return this.#readAll(this.#fd);
    } catch (err) {
      this.#closeFd();
      throw new StorageError(`cannot open the start marks ${this.#file}: ${messageOf(err)}`, {
        cause: err,
      });
    }
  }

  /** open: forgets every mark and empties the file (they were applied to the store). */
  reset(): void {
    const fd = this.#open();
    this.#cellOf.clear();
    this.#marks.clear();
    this.#free.length = 0;
    this.#cells = 0;
    ftruncateSync(fd, 0);
  }

  /**
   * open: writes the mark of `mark.id` (into its cell, or a free one). False, writing
   * nothing, when the id is too long for a cell (the caller marks another way).
   */
  mark(mark: StartMark): boolean {
    const fd = this.#open();
    const buf = this.#buf;
    buf.fill(0);
    const n = buf.write(mark.id, 2, ID_BYTES + 1, 'utf8');
    if (n > ID_BYTES || Buffer.byteLength(mark.id, 'utf8') !== n) return false;
    let cell = this.#cellOf.get(mark.id);
    if (cell === undefined) cell = this.#free.pop() ?? this.#cells++;
    buf[0] = USED;
    buf[1] = n;
    buf.writeUInt32LE(mark.runs >>> 0, AT.runs);
    buf.writeUInt32LE(mark.attempt >>> 0, AT.attempt);
    buf.writeDoubleLE(mark.startedAt, AT.startedAt);
    buf.writeDoubleLE(mark.enqueuedAt, AT.enqueuedAt);
    buf.writeUInt32LE(checksum(buf), AT.sum);
    try {
      writeSync(fd, buf, 0, CELL, cell * CELL);
    } catch (err) {
      if (!this.#cellOf.has(mark.id)) this.#free.push(cell);
      throw new StorageError(`cannot write a start mark to ${this.#file}: ${messageOf(err)}`, {
        cause: err,
      });
    }
    this.#cellOf.set(mark.id, cell);
    this.#marks.set(mark.id, mark);
    return true;
  }

  /** The mark held for `id`, if any. */
  get(id: string): StartMark | undefined {
    return this.#marks.size === 0 ? undefined : this.#marks.get(id);
  }

  /** The job's outcome is being written: its cell is free for the next start. */
  release(id: string): void {
    if (this.#marks.size === 0) return;
    const cell = this.#cellOf.get(id);
    if (cell === undefined) return;
    this.#cellOf.delete(id);
    this.#marks.delete(id);
    this.#free.push(cell);
  }

  /** Every mark held now. */
  held(): StartMark[] {
    return [...this.#marks.values()];
  }

  /** open → closed (the file stays). No-op when closed. */
  close(): void {
    this.#cellOf.clear();
    this.#marks.clear();
    this.#free.length = 0;
    this.#cells = 0;
    this.#closeFd();
  }

  #open(): number {
    if (this.#fd === undefined) throw new StorageError(`start marks ${this.#file} are not open`);
    return this.#fd;
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // already gone: nothing held
    }
    this.#fd = undefined;
  }

  #readAll(fd: number): StartMark[] {
    const size = fstatSync(fd).size;
    const out: StartMark[] = [];
    const buf = Buffer.alloc(CELL);
    for (let at = 0; at + CELL <= size; at += CELL) {
      if (readSync(fd, buf, 0, CELL, at) !== CELL) break;
      if (buf[0] !== USED || buf.readUInt32LE(AT.sum) !== checksum(buf)) continue;
      const n = buf[1]!;
      if (n === 0 || n > ID_BYTES) continue;
      out.push({
        id: buf.toString('utf8', 2, 2 + n),
        runs: buf.readUInt32LE(AT.runs),
        attempt: buf.readUInt32LE(AT.attempt),
        startedAt: buf.readDoubleLE(AT.startedAt),
        enqueuedAt: buf.readDoubleLE(AT.enqueuedAt),
      });
    }
    return out;
  }
}

/** FNV-1a over the cell's first 120 bytes: tells a whole cell from a torn or foreign one. */
function checksum(buf: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < AT.sum; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
