import {
  closeSync,
  constants,
  ftruncateSync,
  fstatSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { deferred, type Deferred } from '../model/deferred.ts';
import { StorageError, messageOf } from '../errors.ts';

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
 * (one per node name) instead of in LMDB. The marks of one event-loop turn (a pump starts
 * up to hundreds of jobs in one) are written together: one `pwrite` into the page cache,
 * in a microtask, after which {@link durable} resolves. That survives a crash of the
 * process (SIGKILL included) as an LMDB commit does, which is all a start mark needs (a job
 * found started at restart counts a crash), without a write transaction per start. An
 * attempt then starts at once instead of waiting a commit with its run slot held (each
 * slot's next job waited about a transaction and a half: the LMDB node's throughput was its
 * concurrency per commit). One `pwrite` per mark cost 2 µs of the event loop per job.
 *
 * The file's bytes live in memory too (the image); a write sends the range of cells
 * changed since the last one. Each running job has its cell, reused by the next job once
 * the job's next write (its outcome) is issued; a cell is never cleared, so a stale one may
 * remain: read back, it counts only against a stored record of the same enqueue that it is
 * ahead of (see `LmdbStorage`). A cell whose checksum fails (torn by a machine crash) is
 * ignored.
 */
export class StartMarks {
  readonly #file: string;
  #fd: number | undefined;
  /** The cell of each marked id. */
  readonly #cellOf = new Map<string, number>();
  /** Cells free for reuse (a stack: the lowest cells are reused first, mostly). */
  readonly #free: number[] = [];
  /** Cells used so far: the image's extent. */
  #cells = 0;
  #image = Buffer.alloc(64 * CELL);
  /** Cells changed and not written yet: [lo, hi). */
  #lo = Infinity;
  #hi = 0;
  /** The write queued for this turn's marks, and who waits on it. */
  #pending: Deferred | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  /** Marks held now (running attempts whose outcome was not written yet). */
  get size(): number {
    return this.#cellOf.size;
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
    this.#forget();
    ftruncateSync(fd, 0);
  }

  /**
   * open: records the mark of `mark.id` (in its cell, or a free one); {@link durable}
   * resolves once it is written. False, recording nothing, when the id is too long for a
   * cell (the caller marks another way).
   */
  mark(mark: StartMark): boolean {
    this.#open();
    const n = Buffer.byteLength(mark.id, 'utf8');
    if (n > ID_BYTES) return false;
    let cell = this.#cellOf.get(mark.id);
    if (cell === undefined) {
      cell = this.#free.pop() ?? this.#grow();
      this.#cellOf.set(mark.id, cell);
    }
    const at = cell * CELL;
    const img = this.#image;
    img.fill(0, at, at + CELL);
    img[at] = USED;
    img[at + 1] = n;
    img.write(mark.id, at + 2, n, 'utf8');
    img.writeUInt32LE(mark.runs >>> 0, at + AT.runs);
    img.writeUInt32LE(mark.attempt >>> 0, at + AT.attempt);
    img.writeDoubleLE(mark.startedAt, at + AT.startedAt);
    img.writeDoubleLE(mark.enqueuedAt, at + AT.enqueuedAt);
    img.writeUInt32LE(checksum(img, at), at + AT.sum);
    if (cell < this.#lo) this.#lo = cell;
    if (cell + 1 > this.#hi) this.#hi = cell + 1;
    this.#schedule();
    return true;
  }

  /** Resolves once every mark recorded so far is written (rejects if that write failed). */
  durable(): Promise<void> {
    return this.#pending?.done ?? Promise.resolve();
  }

  /** The mark held for `id`, if any. */
  get(id: string): StartMark | undefined {
    if (this.#cellOf.size === 0) return undefined;
    const cell = this.#cellOf.get(id);
    return cell === undefined ? undefined : this.#markAt(this.#image, cell * CELL);
  }

  /** The job's outcome is being written: its cell is free for the next start. */
  release(id: string): void {
    if (this.#cellOf.size === 0) return;
    const cell = this.#cellOf.get(id);
    if (cell === undefined) return;
    this.#cellOf.delete(id);
    this.#free.push(cell);
  }

  /** Every mark held now. */
  held(): StartMark[] {
    return Array.from(this.#cellOf.values(), (cell) => this.#markAt(this.#image, cell * CELL)!);
  }

  /** open → closed (the file stays; marks not written yet are written first). No-op when closed. */
  close(): void {
    if (this.#fd !== undefined && this.#pending !== undefined) this.#write();
    this.#forget();
    this.#closeFd();
  }

  #open(): number {
    if (this.#fd === undefined) throw new StorageError(`start marks ${this.#file} are not open`);
    return this.#fd;
  }

  #grow(): number {
    const cell = this.#cells++;
    if (this.#cells * CELL > this.#image.length) {
      const bigger = Buffer.alloc(this.#image.length * 2);
      this.#image.copy(bigger);
      this.#image = bigger;
    }
    return cell;
  }

  /** This turn's write, queued once (a microtask: after the turn's starts have marked). */
  #schedule(): void {
    if (this.#pending !== undefined) return;
    const pending = deferred(true); // a mark nobody awaits must not warn
    this.#pending = pending;
    queueMicrotask(() => {
      if (this.#pending === pending) this.#write();
    });
  }

  /** Writes the changed cells in one pwrite and settles who waits on them. */
  #write(): void {
    const pending = this.#pending!;
    this.#pending = undefined;
    const lo = this.#lo;
    const hi = this.#hi;
    this.#lo = Infinity;
    this.#hi = 0;
    try {
      if (hi > lo) writeSync(this.#open(), this.#image, lo * CELL, (hi - lo) * CELL, lo * CELL);
      pending.resolve();
    } catch (err) {
      pending.reject(
        err instanceof StorageError
          ? err
          : new StorageError(`cannot write start marks to ${this.#file}: ${messageOf(err)}`, {
              cause: err,
            }),
      );
    }
  }

  #forget(): void {
    this.#cellOf.clear();
    this.#free.length = 0;
    this.#cells = 0;
    this.#lo = Infinity;
    this.#hi = 0;
    this.#image.fill(0);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(new StorageError(`start marks ${this.#file} were closed`));
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

  #markAt(buf: Buffer, at: number): StartMark | undefined {
    if (buf[at] !== USED || buf.readUInt32LE(at + AT.sum) !== checksum(buf, at)) return undefined;
    const n = buf[at + 1]!;
    if (n === 0 || n > ID_BYTES) return undefined;
    return {
      id: buf.toString('utf8', at + 2, at + 2 + n),
      runs: buf.readUInt32LE(at + AT.runs),
      attempt: buf.readUInt32LE(at + AT.attempt),
      startedAt: buf.readDoubleLE(at + AT.startedAt),
      enqueuedAt: buf.readDoubleLE(at + AT.enqueuedAt),
    };
  }

  #readAll(fd: number): StartMark[] {
    const size = fstatSync(fd).size;
    const out: StartMark[] = [];
    const buf = Buffer.alloc(CELL);
    for (let at = 0; at + CELL <= size; at += CELL) {
      if (readSync(fd, buf, 0, CELL, at) !== CELL) break;
      const mark = this.#markAt(buf, 0);
      if (mark !== undefined) out.push(mark);
    }
    return out;
  }
}

/** FNV-1a over a cell's first 120 bytes: tells a whole cell from a torn or foreign one. */
function checksum(buf: Buffer, at: number): number {
  let h = 0x811c9dc5;
  for (let i = at; i < at + AT.sum; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}
