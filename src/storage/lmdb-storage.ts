import { join } from 'node:path';
import { deferred } from '../model/deferred.ts';
import {
  ClosedError,
  InvalidArgumentError,
  JobReactorError,
  LeaseLostError,
  StorageError,
} from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { randomId } from '../model/ids.ts';
import { FINAL_STATUSES, JobStatus, type Feedback, type JobRecord } from '../model/job.ts';
import { assertNodeName } from '../model/names.ts';
import type { JobStorage, StorageOwner } from './job-storage.ts';
import { LazyRemovals } from './lazy-removals.ts';
import { acquireLmdb, lmdbError, type LmdbHandle } from './lmdb-env.ts';
import { NodeKeyspace } from './lmdb-keys.ts';
import { LmdbLease } from './lmdb-lease.ts';
import { StartMarks, type StartMark } from './lmdb-starts.ts';
import { decodeFeedback, decodeRecord, encodeFeedback, encodeRecord } from './record-codec.ts';

/**
 * When a write counts as done:
 * - `'flush'`: the commit is flushed to the disk (fdatasync): what a node accepted survives
 *   a crash of the machine or a power loss.
 * - `'commit'`: the commit is in the operating system's page cache: it survives a crash of
 *   the node process (SIGKILL included), not of the machine; the flush follows in the
 *   background, so a machine crash loses at most the last moments, and never corrupts the
 *   store (LMDB keeps the last flushed state valid).
 */
export type LmdbSync = 'flush' | 'commit';

export interface LmdbStorageOptions {
  /** The store's directory; created (with its parents) when missing. */
  path: string;
  /** When `save` and the other writes resolve (see {@link LmdbSync}). @default 'flush' */
  sync?: LmdbSync;
  /**
   * How often the lease on the node's name is renewed (every third of it), ms. Only read
   * for a holder whose process cannot be checked (another host or container sharing the
   * directory): it is taken as gone once its last renewal is this old.
   * @default 10000
   */
  leaseTtlMs?: number;
  /** Clock for lease timing (tests inject a fake one). @default the system clock */
  clock?: Clock;
}

/** Defaults of {@link LmdbStorageOptions}, in one place. */
export const LMDB_STORAGE_DEFAULTS = { sync: 'flush', leaseTtlMs: 10_000 } as const;

/** One turn's writes: each key's last value (`null`: removed), and who waits on them. */
interface WriteBatch {
  jobs: Map<string, Buffer | null>;
  feedbacks: Map<string, Buffer | null>;
  verb: string;
  id: string;
  /** Durable as `sync` says: flushed to the disk (`'flush'`), or committed (`'commit'`). */
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Committed: it survives a crash of this process (the OS holds it), not yet of the machine. */
  committed: Promise<void>;
  resolveCommitted: () => void;
  rejectCommitted: (err: unknown) => void;
}

/**
 * Lifecycle of an LmdbStorage:
 *   created --open()--> opening --store open, lease taken--> open --close()--> closed
 *   opening --failed--> created      (open may be called again)
 *   created | opening --close()--> closed
 * Data calls need `open`; before it they reject with StorageError, after `close` with
 * ClosedError. `close()` is idempotent.
 */
const State = { Created: 'created', Opening: 'opening', Open: 'open', Closed: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Keeps a node's jobs and feedback outbox in an LMDB store in a local directory (the
 * `lmdb` package): durable with no server. Several nodes (of different names) and monitors
 * may share a directory, from one process or several.
 *
 * Writes are group-committed: every write of one event-loop turn joins one batch, sent as
 * one conditional block (fenced by the lease, see `lmdb-lease.ts`) into lmdb-js's write
 * transaction of that turn, which its own thread commits, and flushes when `sync` is
 * `'flush'`, off the event loop. While a batch is being made durable, the writes of the
 * following turns join the next one, sent when it is done: under load a flush carries
 * thousands of writes, at rest a write goes at once. Each write resolves once its batch is durable; a node
 * says `accepted` only then. Only each key's last write of a batch is applied.
 *
 * Reads are synchronous memory-mapped lookups. They see the writes not yet committed too
 * (the open batch and those in flight), so a record read back right after `save` is the one
 * saved. Records: `record-codec.ts`, without a string table (each stands alone); keys:
 * `lmdb-keys.ts`.
 */
export class LmdbStorage implements JobStorage {
  readonly durable = true;
  /** Set by the node before `open` (instance id for the lease; lease lost). */
  owner: StorageOwner | undefined;

  readonly #path: string;
  readonly #sync: LmdbSync;
  readonly #leaseTtlMs: number;
  readonly #clock: Clock;
  #state: State = State.Created;
  #db: LmdbHandle | undefined;
  #keys: NodeKeyspace | undefined;
  #lease: LmdbLease | undefined;
  /** This turn's writes, not handed to lmdb-js yet. */
  #batch: WriteBatch | undefined;
  /** Batches handed over and not yet durable, oldest first (reads look here too). */
  readonly #inFlight = new Set<WriteBatch>();
  /** A local store does not lose jobs under a running node (no reconcile index needed). */
  readonly keepsData = true;
  /** The start marks of running attempts (see lmdb-starts.ts); set while open. */
  #starts: StartMarks | undefined;
  /**
   * Acknowledged feedbacks to remove with the next batch, made while none was open (see
   * lazy-removals.ts); reads treat them as removed. A batch takes them all when it opens, so
   * there are some only while no batch is open. Nobody may wait on their promise.
   */
  readonly #lazy: LazyRemovals;

  constructor(options: LmdbStorageOptions) {
    if (typeof options?.path !== 'string' || options.path.trim() === '') {
      throw new InvalidArgumentError('LmdbStorage needs a path (the store directory)');
    }
    this.#path = options.path;
    const sync = options.sync ?? LMDB_STORAGE_DEFAULTS.sync;
    if (sync !== 'flush' && sync !== 'commit') {
      throw new InvalidArgumentError(`sync must be 'flush' or 'commit' (got ${String(sync)})`);
    }
    this.#sync = sync;
    const ttl = options.leaseTtlMs ?? LMDB_STORAGE_DEFAULTS.leaseTtlMs;
    if (!Number.isFinite(ttl) || ttl <= 0) {
      throw new InvalidArgumentError(`leaseTtlMs must be a number > 0 (got ${String(ttl)})`);
    }
    this.#leaseTtlMs = ttl;
    this.#clock = options.clock ?? systemClock;
    this.#lazy = new LazyRemovals({
      clock: this.#clock,
      join: 'all',
      unobserved: true,
      due: () => this.#lazyDue(),
    });
  }

  /** The node this storage was opened for (empty before `open`). */
  get node(): string {
    return this.#keys?.node ?? '';
  }

  /** The store directory (as given; resolved once open). */
  get path(): string {
    return this.#db?.dir ?? this.#path;
  }

  get sync(): LmdbSync {
    return this.#sync;
  }

  /** False once another process took the node's name (writes then fail with LeaseLostError). */
  get leaseValid(): boolean {
    const status = this.#lease?.state.status;
    return status === 'held';
  }

  /** One lease renewal now, outside the timer (for tests and tools). */
  async renewLease(): Promise<void> {
    await this.#lease?.renew();
  }

  async open(node: string): Promise<void> {
    if (this.#state === State.Closed) throw new ClosedError('lmdb storage is closed');
    if (this.#state !== State.Created) {
      throw new StorageError(`lmdb storage is already ${this.#state} for node ${this.node}`);
    }
    assertNodeName(node);
    this.#setState(State.Opening);
    let db: LmdbHandle | undefined;
    let opened = false;
    try {
      db = await acquireLmdb(this.#path);
      const lease = new LmdbLease({
        meta: db.meta,
        node,
        instance: this.owner?.instance ?? randomId(8),
        ttlMs: this.#leaseTtlMs,
        clock: this.#clock,
        events: {
          renewed: () => this.owner?.renewed(),
          lost: (holder) => this.owner?.lost(holder),
        },
      });
      if (this.#closed()) throw new ClosedError('lmdb storage was closed while opening');
      try {
        lease.acquire();
      } catch (err) {
        if (err instanceof JobReactorError) throw err;
        throw lmdbError(err, `cannot take the lease of node ${node} in ${db.dir}`);
      }
      this.#db = db;
      this.#keys = new NodeKeyspace(node);
      this.#lease = lease;
      const starts = new StartMarks(join(db.dir, `jr-starts-${node}`));
      this.#starts = starts;
      this.#setState(State.Open);
      opened = true;
      // The marks of attempts that ran when this node last stopped go into their records
      // (durably) before anything reads them: a restart sees those jobs in progress.
      await this.#applyMarks(starts.open());
      starts.reset();
    } catch (err) {
      this.#starts?.close();
      this.#starts = undefined;
      if (opened && !this.#closed()) this.#setState(State.Opening);
      await this.#lease?.release().catch(() => undefined);
      this.#lease = undefined;
      this.#keys = undefined;
      this.#db = undefined;
      await db?.release();
      if (this.#closed())
        throw err instanceof ClosedError
          ? err
          : new ClosedError('lmdb storage was closed while opening');
      this.#setState(State.Created);
      throw err;
    }
  }

  save(job: JobRecord): Promise<void> {
    this.#starts?.release(job.id);
    return this.#saveRecord(job, 'done');
  }

  /**
   * The record of an attempt that starts: resolves once it survives a crash of this
   * process, which is what the node's crash accounting needs. Written as a start mark
   * (lmdb-starts.ts: the turn's marks in one pwrite, in a microtask) rather than a
   * record rewrite in a transaction; the record itself keeps its last written state until
   * the attempt's outcome, and reads here show it started. An id too long for a mark is rewritten in the
   * turn's transaction instead (resolved at its commit, not its flush).
   */
  markStarted(job: JobRecord): Promise<void> {
    try {
      this.#assertLive();
      if (this.#lease!.state.status !== 'held') {
        throw new LeaseLostError(
          `node ${this.node} no longer holds the lease on its name in ${this.path}: no job starts`,
        );
      }
      if (job.node !== this.node) {
        throw new InvalidArgumentError(
          `cannot save job ${job.id} of node ${job.node} in the storage of node ${this.node}`,
        );
      }
      const starts = this.#starts!;
      const marked = starts.mark({
        id: job.id,
        runs: job.runs,
        attempt: job.attempt,
        startedAt: job.startedAt ?? job.updatedAt,
        enqueuedAt: job.enqueuedAt,
      });
      return marked ? starts.durable() : this.#saveRecord(job, 'committed');
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #saveRecord(job: JobRecord, until: 'done' | 'committed'): Promise<void> {
    try {
      this.#assertLive();
      if (job.node !== this.node) {
        throw new InvalidArgumentError(
          `cannot save job ${job.id} of node ${job.node} in the storage of node ${this.node}`,
        );
      }
      const b = this.#batchFor('save job', job.id);
      b.jobs.set(job.id, encodeRecord(job));
      return b[until];
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async load(id: string): Promise<JobRecord | undefined> {
    const record = this.#loadStored(id);
    return record === undefined ? undefined : this.#withMark(record);
  }

  /** The record as last written (pending writes included), without its start mark. */
  #loadStored(id: string): JobRecord | undefined {
    const { db, keys } = this.#live();
    const pending = this.#pending('jobs', id);
    if (pending !== undefined)
      return pending === null ? undefined : decodeRecord(pending, id, keys.node);
    const value = this.#read(`load job ${id}`, () => db.jobs.getBinary(keys.key(id)));
    return value === undefined ? undefined : decodeRecord(value, id, keys.node);
  }

  /** `record` as its start mark says, if it has one held. */
  #withMark(record: JobRecord): JobRecord {
    const mark = this.#starts?.get(record.id);
    return mark === undefined ? record : markedRecord(record, mark);
  }

  remove(id: string): Promise<void> {
    try {
      this.#assertLive();
      this.#starts?.release(id);
      const b = this.#batchFor('remove job', id);
      b.jobs.set(id, null);
      return b.done;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async list(filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]> {
    const { db, keys } = this.#live();
    const wanted = statusSet(filter?.status);
    if (wanted?.size === 0) return [];
    const out: JobRecord[] = [];
    const seen = this.#pendingKeys('jobs');
    this.#read('list jobs', () => {
      for (const { key, value } of db.jobs.getRange({ start: keys.start, end: keys.end })) {
        const id = keys.id(key);
        if (seen?.has(id) === true) continue;
        const record = this.#withMark(decodeRecord(value, id, keys.node));
        if (wanted === undefined || wanted.has(record.status)) out.push(record);
      }
    });
    for (const [id, value] of this.#pendingEntries('jobs')) {
      const record = this.#withMark(decodeRecord(value, id, keys.node));
      if (wanted === undefined || wanted.has(record.status)) out.push(record);
    }
    return out;
  }

  saveFeedback(feedback: Feedback): Promise<void> {
    try {
      this.#assertLive();
      const b = this.#batchFor('save feedback', feedback.key);
      b.feedbacks.set(feedback.key, encodeFeedback(feedback));
      return b.done;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The record (or its removal) and the feedback in one batch: never one without the other. */
  finish(id: string, record: JobRecord | undefined, feedback: Feedback): Promise<void> {
    try {
      this.#assertLive();
      if (record !== undefined && record.node !== this.node) {
        throw new InvalidArgumentError(
          `cannot save job ${id} of node ${record.node} in the storage of node ${this.node}`,
        );
      }
      const value = record === undefined ? null : encodeRecord(record);
      const fb = encodeFeedback(feedback);
      this.#starts?.release(id);
      const b = this.#batchFor('finish job', id);
      b.feedbacks.set(feedback.key, fb);
      b.jobs.set(id, value);
      return b.done;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolves once the removals are durable. With a batch open they join it; otherwise they
   * wait (up to LAZY_REMOVAL_MS) for the next write's batch: a crash meanwhile only means
   * the feedbacks are sent again after the restart (the distributor drops repeats).
   */
  removeFeedback(fbKeys: readonly string[]): Promise<void> {
    try {
      this.#assertLive();
      if (fbKeys.length === 0) return Promise.resolve();
      return this.#lazy.remove(fbKeys, this.#batch);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** No other write came in time (or too many wait): the removals go in a batch of their own. */
  #lazyDue(): void {
    const first = this.#lazy.first;
    if (first !== undefined && this.#state === State.Open) this.#batchFor('remove feedback', first);
  }

  async listFeedbacks(): Promise<Feedback[]> {
    const { db, keys } = this.#live();
    const out: Feedback[] = [];
    const seen = this.#pendingKeys('feedbacks');
    this.#read('list feedbacks', () => {
      for (const { key, value } of db.feedbacks.getRange({ start: keys.start, end: keys.end })) {
        const k = keys.id(key);
        if (seen?.has(k) !== true) out.push(decodeFeedback(value, k, keys.node));
      }
    });
    for (const [k, value] of this.#pendingEntries('feedbacks')) {
      out.push(decodeFeedback(value, k, keys.node));
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    const open = this.#state === State.Open;
    // Attempts still marked (interrupted, or the node stopped under them) are written
    // started, as a restart would find them; then the marks file is done with.
    const starts = this.#starts;
    if (open && starts !== undefined && starts.size > 0) this.#writeMarks(starts.held());
    const firstLazy = this.#lazy.first;
    if (open && firstLazy !== undefined) this.#batchFor('remove feedback', firstLazy);
    starts?.close();
    this.#starts = undefined;
    this.#setState(State.Closed);
    if (!open) return; // an open() under way releases what it took
    // What this node wrote last is durable before the name is handed over.
    const writing = [...this.#inFlight].map((b) => b.done.catch(() => undefined));
    if (this.#batch !== undefined) writing.push(this.#send(this.#batch).catch(() => undefined));
    await Promise.all(writing);
    await this.#lease?.release();
    await this.#db?.release();
    this.#db = undefined;
  }

  /**
   * Writes the start marks read back at open into their records (see lmdb-starts.ts),
   * and waits until that is durable. A mark counts only against a live record of the same
   * enqueue that it is ahead of (a later run or attempt): one left behind by a job whose
   * outcome was written, or by an earlier job of a reused id, changes nothing.
   */
  async #applyMarks(marks: StartMark[]): Promise<void> {
    if (marks.length === 0) return;
    if (this.#writeMarks(marks)) await this.#batch?.done;
  }

  /** Queues the records `marks` apply to, started; true when any was queued. */
  #writeMarks(marks: StartMark[]): boolean {
    let any = false;
    for (const mark of marks) {
      let stored: JobRecord | undefined;
      try {
        stored = this.#loadStored(mark.id);
      } catch {
        continue; // unreadable: resume reports it
      }
      if (stored === undefined || !markIsAhead(stored, mark)) continue;
      const b = this.#batchFor('mark job started', mark.id);
      b.jobs.set(mark.id, encodeRecord(markedRecord(stored, mark)));
      any = true;
    }
    return any;
  }

  #setState(next: State): void {
    this.#state = next;
  }

  /** Read through a method: `close()` may run while `open()` awaits. */
  #closed(): boolean {
    return this.#state === State.Closed;
  }

  #live(): { db: LmdbHandle; keys: NodeKeyspace; lease: LmdbLease } {
    this.#assertLive();
    return { db: this.#db!, keys: this.#keys!, lease: this.#lease! };
  }

  /** As #live(), for the writes: no object per call (they run for every job). */
  #assertLive(): void {
    if (this.#state === State.Open && this.#db && this.#keys && this.#lease) return;
    if (this.#state === State.Closed) throw new ClosedError('lmdb storage is closed');
    throw new StorageError('lmdb storage is not open: call open(node) first');
  }

  #read<T>(what: string, op: () => T): T {
    try {
      return op();
    } catch (err) {
      throw lmdbError(err, `LMDB could not ${what} (node ${this.node}, ${this.path})`);
    }
  }

  /** This turn's batch, opened by its first write and handed to lmdb-js in a microtask. */
  #batchFor(verb: string, id: string): WriteBatch {
    const open = this.#batch;
    if (open !== undefined) return open;
    const { done, resolve, reject } = deferred();
    // Nobody may wait on it: no unhandled rejection for the committed stage alone.
    const { done: committed, resolve: resolveCommitted, reject: rejectCommitted } = deferred(true);
    const batch: WriteBatch = {
      jobs: new Map(),
      feedbacks: new Map(),
      verb,
      id,
      done,
      resolve,
      reject,
      committed,
      resolveCommitted,
      rejectCommitted,
    };
    this.#batch = batch;
    this.#lazy.handTo(batch);
    queueMicrotask(() => {
      // With a batch still being made durable, this one waits for it (see #send).
      if (this.#batch === batch && !this.#committing()) {
        void this.#send(batch).catch(() => undefined);
      }
    });
    return batch;
  }

  /**
   * Hands `b` to lmdb-js, fenced by the lease; settles its writers once it is durable
   * (committed, and flushed with `sync: 'flush'`), and those that asked for less (see
   * markStarted) as soon as it is committed. One batch is in flight at a time: the next
   * one collects every write until this one is durable, then goes at once. (Letting the
   * next batch commit during this one's flush was measured: smaller batches, more
   * transactions, 19.6k against 33.7k jobs/s on the bench's throughput row, since
   * lmdb-js's cost is per transaction.)
   */
  #send(b: WriteBatch): Promise<void> {
    this.#batch = undefined;
    this.#inFlight.add(b);
    const n = b.jobs.size + b.feedbacks.size;
    const what = `${b.verb} ${b.id}${n > 1 ? ` and ${n - 1} more writes` : ''}`;
    const run = (async () => {
      // Not #live(): close() sends the last batch after refusing new writes.
      const db = this.#db;
      const keys = this.#keys;
      const lease = this.#lease;
      if (db === undefined || keys === undefined || lease === undefined) {
        throw new ClosedError('lmdb storage is closed');
      }
      const committed = lease.fence(() => {
        for (const [id, value] of b.jobs) {
          if (value === null) void db.jobs.remove(keys.writeKey(id));
          else void db.jobs.put(keys.writeKey(id), value);
        }
        for (const [key, value] of b.feedbacks) {
          if (value === null) void db.feedbacks.remove(keys.writeKey(key));
          else void db.feedbacks.put(keys.writeKey(key), value);
        }
      });
      let ok: boolean;
      try {
        ok = await committed;
      } catch (err) {
        const e = lmdbError(err, `LMDB could not ${what} (node ${keys.node}, ${db.dir})`);
        b.rejectCommitted(e);
        throw e;
      }
      if (!ok) {
        const e = new LeaseLostError(
          `LMDB refused to ${what}: node ${keys.node} no longer holds the lease on its name in ${db.dir}`,
        );
        b.rejectCommitted(e);
        throw e;
      }
      b.resolveCommitted();
      if (this.#sync === 'flush') {
        try {
          await (committed as { flushed?: Promise<unknown> }).flushed;
        } catch (err) {
          throw lmdbError(err, `LMDB could not flush ${what} (node ${keys.node}, ${db.dir})`);
        }
      }
    })();
    run
      .then(b.resolve, (err: unknown) => {
        b.rejectCommitted(err); // a no-op once committed
        b.reject(err);
      })
      .finally(() => {
        this.#inFlight.delete(b);
        this.#sendNext(); // a failed commit frees the way too
      })
      .catch(() => undefined);
    return b.done;
  }

  /** A batch handed to lmdb-js and not yet durable. */
  #committing(): boolean {
    return this.#inFlight.size > 0;
  }

  /**
   * Group commit: the writes that came while the last batch was being made durable go now,
   * as one batch, so one commit and one flush serve a whole burst under load.
   */
  #sendNext(): void {
    const next = this.#batch;
    if (next !== undefined && !this.#committing() && this.#state === State.Open) {
      void this.#send(next).catch(() => undefined);
    }
  }

  /** The last value written and not yet committed for `key` (null: removed), if any. */
  #pending(kind: 'jobs' | 'feedbacks', key: string): Buffer | null | undefined {
    if (kind === 'feedbacks' && this.#lazy.has(key)) return null; // newer than any batch
    const open = this.#batch?.[kind].get(key);
    if (open !== undefined) return open;
    let found: Buffer | null | undefined;
    for (const b of this.#inFlight) {
      const v = b[kind].get(key);
      if (v !== undefined) found = v; // the newest batch wins
    }
    return found;
  }

  /** Keys with writes not yet committed (undefined when there are none). */
  #pendingKeys(kind: 'jobs' | 'feedbacks'): Set<string> | undefined {
    const lazy = kind === 'feedbacks' ? this.#lazy : undefined;
    if (this.#batch === undefined && this.#inFlight.size === 0 && !lazy?.size) return undefined;
    const keys = new Set<string>(lazy);
    for (const b of this.#inFlight) for (const k of b[kind].keys()) keys.add(k);
    if (this.#batch !== undefined) for (const k of this.#batch[kind].keys()) keys.add(k);
    return keys;
  }

  /** The pending keys that end up written (not removed), with their last values. */
  #pendingEntries(kind: 'jobs' | 'feedbacks'): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    const keys = this.#pendingKeys(kind);
    if (keys === undefined) return out;
    for (const k of keys) {
      const v = this.#pending(kind, k);
      if (v !== null && v !== undefined) out.set(k, v);
    }
    return out;
  }
}

/** Whether `mark` is of attempt or run after the one `stored` is at (same enqueue, live). */
function markIsAhead(stored: JobRecord, mark: StartMark): boolean {
  if (FINAL_STATUSES.has(stored.status) || stored.enqueuedAt !== mark.enqueuedAt) return false;
  if (mark.runs !== stored.runs) return mark.runs > stored.runs;
  return mark.attempt > stored.attempt;
}

/** `stored` as the start of the marked attempt left it (see markStarted in job-lifecycle.ts). */
function markedRecord(stored: JobRecord, mark: StartMark): JobRecord {
  return {
    ...stored,
    status: JobStatus.InProgress,
    runs: mark.runs,
    attempt: mark.attempt,
    startedAt: mark.startedAt,
    updatedAt: mark.startedAt,
  };
}

function statusSet(
  status: JobStatus | readonly JobStatus[] | undefined,
): ReadonlySet<JobStatus> | undefined {
  if (status === undefined) return undefined;
  return new Set(typeof status === 'string' ? [status] : status);
}
