import { ClosedError, InvalidArgumentError, StorageError } from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import type { JobStatus } from '../model/job.ts';
import { type JobRecord } from '../model/job.ts';
import { isValidNodeName } from '../model/names.ts';
import { acquireLmdb, lmdbError, type LmdbHandle } from './lmdb-env.ts';
import { LEASE_RANGE, leaseKey, NodeKeyspace } from './lmdb-keys.ts';
import { asRecord, describe } from './lmdb-lease.ts';
import { currentProcess, isRunning } from './process-identity.ts';
import type { MonitoredNode } from './redis-monitor.ts';
import { decodeRecord, encodeRecord } from './record-codec.ts';
import { retriedRecord, type StorageMonitor } from './storage-monitor.ts';

export interface LmdbMonitorOptions {
  /** The store directory the nodes use (`storage: 'lmdb:<path>'`). */
  path: string;
  /** Where `retry` reads "now". @default the system clock */
  clock?: Clock;
}

/**
 * Lifecycle: idle --first call--> open --close()--> closed (idempotent). Opens lazily, so
 * constructing one touches no file.
 */
const State = { Idle: 'idle', Open: 'open', Closed: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Looks at and repairs the jobs nodes keep in an LMDB store, as RedisMonitor does for Redis
 * (same methods, same errors), from any process: LMDB lets readers and one writer at a time
 * share a directory with running nodes. Its writes are transactions of their own: `retry`
 * changes a record only if it is still the one it read.
 *
 * A running node keeps its schedule in memory: a job retried here runs when that node next
 * starts, and a job removed here stops at its next step. `removeAll` refuses a node that is
 * running (its lease is held by a live process).
 */
export class LmdbMonitor implements StorageMonitor {
  readonly #path: string;
  readonly #clock: Clock;
  #state: State = State.Idle;
  #db: Promise<LmdbHandle> | undefined;

  constructor(options: LmdbMonitorOptions) {
    if (typeof options?.path !== 'string' || options.path.trim() === '') {
      throw new InvalidArgumentError('LmdbMonitor needs a path (the store directory)');
    }
    this.#path = options.path;
    this.#clock = options.clock ?? systemClock;
  }

  /** Nodes that opened a storage in this directory, by name, with their counts. */
  async nodes(): Promise<MonitoredNode[]> {
    const db = await this.#open();
    return this.#run('list nodes', () => {
      const names: string[] = [];
      for (const key of db.meta.getKeys(LEASE_RANGE)) {
        const name = String(key).slice('lease/'.length);
        if (isValidNodeName(name)) names.push(name);
      }
      return names.sort().map((name) => {
        const k = new NodeKeyspace(name);
        const range = { start: k.start, end: k.end };
        return {
          name,
          jobs: db.jobs.getKeysCount(range),
          feedbacks: db.feedbacks.getKeysCount(range),
        };
      });
    });
  }

  /** A node's jobs, sorted by id (time-ordered for distributor ids), optionally by status. */
  async jobs(
    node: string,
    filter: { status?: JobStatus | readonly JobStatus[] } = {},
  ): Promise<JobRecord[]> {
    const db = await this.#open();
    const k = new NodeKeyspace(node);
    const wanted =
      filter.status === undefined
        ? undefined
        : new Set<JobStatus>(typeof filter.status === 'string' ? [filter.status] : filter.status);
    const out = this.#run(`list the jobs of node ${node}`, () => {
      const found: JobRecord[] = [];
      for (const { key, value } of db.jobs.getRange({ start: k.start, end: k.end })) {
        const record = decodeRecord(value, k.id(key), node);
        if (wanted === undefined || wanted.has(record.status)) found.push(record);
      }
      return found;
    });
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One job, or undefined. */
  async load(node: string, id: string): Promise<JobRecord | undefined> {
    const db = await this.#open();
    const value = this.#run(`load job ${id} of node ${node}`, () =>
      db.jobs.getBinary(new NodeKeyspace(node).key(id)),
    );
    return value === undefined ? undefined : decodeRecord(value, id, node);
  }

  /**
   * Puts a `failed` job back to status `error`, attempt 0, due now, so its node runs it
   * again with a full set of attempts when it next starts. Keeps `lastError`; drops
   * `failedAt`. Throws InvalidArgumentError when the job does not exist or is not `failed`.
   * Returns the record as written.
   */
  async retry(node: string, id: string): Promise<JobRecord> {
    const db = await this.#open();
    const key = new NodeKeyspace(node).key(id);
    return this.#run(`retry job ${id} of node ${node}`, () =>
      // One write transaction: the read and the write see no write of the node in between.
      db.root.transactionSync(() => {
        const before = db.jobs.getBinary(key);
        if (before === undefined) throw new InvalidArgumentError(`no job ${id} on node ${node}`);
        const next = retriedRecord(decodeRecord(before, id, node), this.#clock.now());
        db.jobs.putSync(key, encodeRecord(next));
        return next;
      }),
    );
  }

  /** Removes one job; true when it existed. */
  async remove(node: string, id: string): Promise<boolean> {
    const db = await this.#open();
    return this.#run(`remove job ${id} of node ${node}`, () =>
      db.jobs.removeSync(new NodeKeyspace(node).key(id)),
    );
  }

  /**
   * Removes every job and pending feedback of a stopped node, and forgets it (its lease
   * record). Throws InvalidArgumentError while a live process holds the node's name.
   */
  async removeAll(node: string): Promise<{ jobs: number; feedbacks: number }> {
    const db = await this.#open();
    const k = new NodeKeyspace(node);
    const range = { start: k.start, end: k.end };
    const self = currentProcess();
    return this.#run(`remove the jobs of node ${node}`, () =>
      db.root.transactionSync(() => {
        const holder = asRecord(db.meta.get(leaseKey(node)));
        if (holder !== undefined && holder.released !== true && isRunning(holder, self) !== false) {
          throw new InvalidArgumentError(
            `node ${node} may be running (${describe(holder)}): stop it before removing its jobs`,
          );
        }
        let jobs = 0;
        let feedbacks = 0;
        for (const key of [...db.jobs.getKeys(range)]) if (db.jobs.removeSync(key)) jobs++;
        for (const key of [...db.feedbacks.getKeys(range)]) {
          if (db.feedbacks.removeSync(key)) feedbacks++;
        }
        db.meta.removeSync(leaseKey(node));
        return { jobs, feedbacks };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    this.#setState(State.Closed);
    const db = await this.#db?.catch(() => undefined);
    await db?.release();
  }

  #open(): Promise<LmdbHandle> {
    if (this.#state === State.Closed)
      return Promise.reject(new ClosedError('lmdb monitor is closed'));
    this.#db ??= acquireLmdb(this.#path).then(
      (db) => {
        this.#setState(State.Open);
        return db;
      },
      (err: unknown) => {
        this.#db = undefined;
        throw err;
      },
    );
    return this.#db;
  }

  #setState(next: State): void {
    if (this.#state !== State.Closed) this.#state = next;
  }

  #run<T>(what: string, op: () => T): T {
    try {
      return op();
    } catch (err) {
      if (err instanceof InvalidArgumentError || err instanceof StorageError) throw err;
      throw lmdbError(err, `LMDB could not ${what} (${this.#path})`);
    }
  }
}
