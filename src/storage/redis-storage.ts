import type { Redis } from 'ioredis';
import { deferred } from '../model/deferred.ts';
import { ClosedError, InvalidArgumentError, LeaseLostError, StorageError } from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { randomId } from '../model/ids.ts';
import type { Feedback, JobRecord, JobStatus } from '../model/job.ts';
import type { JobStorage, StorageOwner } from './job-storage.ts';
import { LazyRemovals } from './lazy-removals.ts';
import { AdoptionWatcher } from './redis-adoption.ts';
import { RedisLease } from './redis-lease.ts';
import { LEASE_REFUSED, RedisScripts, isNoScript } from './redis-scripts.ts';
import {
  decodeFeedback,
  decodeRecord,
  encodeFeedback,
  encodeRecord,
  encodeWrites,
} from './record-codec.ts';
import {
  DEFAULT_REDIS_URL,
  assertRedisUrl,
  commandsOf,
  connectRedis,
  type RedisClient,
  createRedisClient,
  describeClient,
  dropRedis,
  quitRedis,
  redactUrl,
  scanHash,
  toStorageError,
} from './redis-connection.ts';
import { RedisKeys, type NodeKeys } from './redis-keys.ts';

export interface RedisStorageOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS); a Redis Cluster as
   * `redis+cluster://[[user]:password@]host:port,host:port,…` (or `rediss+cluster://`),
   * naming some of its servers (the client finds the rest). Ignored when
   * `client` is given. Never echoed with its password.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * Bring your own ioredis client: a `Redis` (Sentinel, custom TLS, …) or a `Cluster`
   * (Redis Cluster: each node's keys share one slot, see `redis-keys.ts`). It is used as configured and
   * `close()` does not quit it. Our own client fails commands fast while Redis is down
   * (`enableOfflineQueue: false`); yours behaves as you configured it.
   */
  client?: RedisClient;
  /** Key prefix (see `redis-keys.ts` for the layout). @default 'jr' */
  prefix?: string;
  /**
   * How long `open()` may take to connect and get a PING answer, ms. A Redis that refuses
   * or drops the connection, or is still loading its data (restarting), is tried again
   * until then, so a node started while its Redis restarts waits for it; a wrong password
   * or certificate fails at once.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /** Deadline for any one command's reply on our own client, ms. @default 5000 */
  commandTimeoutMs?: number;
  /** Same as setting {@link RedisStorage.onStatusChange}. */
  onStatusChange?: (up: boolean) => void;
  /**
   * TTL of the lease on the node's name, ms, renewed every third of it. A second live
   * process with the same name fails to open (DuplicateNodeError); a node gone for this
   * long has its jobs adopted by a live peer (see `redis-adoption.ts`); a node that cannot
   * renew for this long starts no job until it can.
   * @default 10000
   */
  leaseTtlMs?: number;
  /** Clock for lease timing (tests inject a fake one). @default the system clock */
  clock?: Clock;
}

/**
 * Fenced writes of one event-loop turn, sent as one `jrBatch` call: each field's last
 * value (`null`: deleted). Every writer of the batch waits on its one promise.
 */
interface WriteBatch {
  jobs: Map<string, Buffer | null>;
  feedbacks: Map<string, Buffer | null>;
  /** Writes queued (a save, a finish, a removal of N feedbacks: one each). */
  writes: number;
  /** The first write, for error messages. */
  verb: string;
  id: string;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Writes per `jrBatch` call at most: a script runs atomically, so keep each one short. */
const MAX_BATCH_WRITES = 500;

/** Defaults of {@link RedisStorageOptions}, in one place. */
export const REDIS_STORAGE_DEFAULTS = {
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
  leaseTtlMs: 10_000,
} as const;

/**
 * Lifecycle of a RedisStorage:
 *   created --open()--> opening --connected--> open --close()--> closed
 *   opening --connect failed--> created      (open may be called again)
 *   created | opening --close()--> closed
 * Data calls need `open`; before it they reject with StorageError, after `close` with
 * ClosedError. `close()` is idempotent. While open, the connection goes down and up on
 * its own (ioredis reconnects): see `available` and `onStatusChange`.
 */
const State = {
  Created: 'created',
  Opening: 'opening',
  Open: 'open',
  Closed: 'closed',
} as const;
type State = (typeof State)[keyof typeof State];

/**
 * Keeps a node's jobs and feedback outbox in Redis (`durable`: they survive a crash of the
 * node, as far as the Redis persistence settings allow). Key layout: `redis-keys.ts`;
 * encoding: `record-codec.ts`. Never uses `KEYS`.
 *
 * `save` is a single HSET (atomic, one round trip) and resolves once Redis replied.
 * `list` walks the node's hash with HSCAN and filters by status here: statuses change on
 * every step of a job, so per-status sets would cost a read-modify-write on each save
 * to spare a filter that only node start-up and the monitor run.
 */
export class RedisStorage implements JobStorage {
  readonly durable = true;
  /**
   * Called with `false` when the connection to Redis drops after `open`, and with `true`
   * when it is back (ioredis reconnects by itself). While it is down every call rejects
   * with StorageError at once; a node should stop accepting jobs until it is back.
   * Must not throw (a throw is ignored).
   */
  onStatusChange: ((up: boolean) => void) | undefined;
  /** Set by the node before `open` (lease events, takeover of dead nodes' jobs). */
  owner: StorageOwner | undefined;

  readonly #keys: RedisKeys;
  readonly #url: string;
  readonly #safeUrl: string;
  readonly #given: Redis | undefined;
  readonly #connectTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #leaseTtlMs: number;
  readonly #clock: Clock;
  #state: State = State.Created;
  #client: Redis | undefined;
  #scripts: RedisScripts | undefined;
  /** This turn's fenced writes, not sent yet (see #batchFor). */
  #batch: WriteBatch | undefined;
  /**
   * Acknowledged feedbacks to remove with the next batch (see lazy-removals.ts): an
   * acknowledgement costs no script call, no fence and no socket write of its own. A batch
   * takes them when it is sent; its own writes' removals join it at once. Timed on the
   * system clock, as before (the injected clock times the lease).
   */
  readonly #lazy = new LazyRemovals({
    clock: systemClock,
    join: 'written',
    due: () => this.#lazyDue(),
  });
  #lease: RedisLease | undefined;
  #adoption: AdoptionWatcher | undefined;
  #node = '';
  #nodeKeys: NodeKeys | undefined;
  #up = false;
  #detach: (() => void) | undefined;

  constructor(options: RedisStorageOptions = {}) {
    this.#keys = new RedisKeys(options.prefix);
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    this.#safeUrl = options.client ? describeClient(options.client) : redactUrl(this.#url);
    if (options.client === undefined) assertRedisUrl(this.#url);
    this.#given = options.client === undefined ? undefined : commandsOf(options.client);
    const d = REDIS_STORAGE_DEFAULTS;
    this.#connectTimeoutMs = positive(
      options.connectTimeoutMs,
      d.connectTimeoutMs,
      'connectTimeoutMs',
    );
    this.#commandTimeoutMs = positive(
      options.commandTimeoutMs,
      d.commandTimeoutMs,
      'commandTimeoutMs',
    );
    this.#leaseTtlMs = positive(options.leaseTtlMs, d.leaseTtlMs, 'leaseTtlMs');
    this.#clock = options.clock ?? systemClock;
    this.onStatusChange = options.onStatusChange;
  }

  /** The node this storage was opened for (empty before `open`). */
  get node(): string {
    return this.#node;
  }

  /** The key prefix. */
  get prefix(): string {
    return this.#keys.prefix;
  }

  /** True while open and connected to Redis. */
  get available(): boolean {
    return this.#state === State.Open && this.#up;
  }

  /** True while the lease on the node's name is held and was renewed less than a TTL ago. */
  get leaseValid(): boolean {
    return this.#lease?.trusted() ?? false;
  }

  /** The lease TTL in force, ms. */
  get leaseTtlMs(): number {
    return this.#leaseTtlMs;
  }

  /** One lease renewal now, outside the timer (for tests and tools). */
  async renewLease(): Promise<void> {
    await this.#lease?.renew();
  }

  /** One takeover scan now, outside the timer (for tests and tools). */
  async scanForDeadNodes(): Promise<void> {
    await this.#adoption?.scan();
  }

  async open(node: string): Promise<void> {
    if (this.#state === State.Closed) throw new ClosedError('redis storage is closed');
    if (this.#state !== State.Created) {
      throw new StorageError(`redis storage is already ${this.#state} for node ${this.#node}`);
    }
    const keys = this.#keys.node(node);
    this.#node = node;
    this.#setState(State.Opening);
    const client = commandsOf(
      this.#given ??
        createRedisClient(this.#url, {
          connectTimeoutMs: this.#connectTimeoutMs,
          commandTimeoutMs: this.#commandTimeoutMs,
          connectionName: `jobreactor:${node}`,
        }),
    );
    const scripts = new RedisScripts(client);
    this.#client = client;
    const owner = this.owner;
    const lease = new RedisLease({
      redis: scripts,
      key: keys.lease,
      adoptedKey: keys.adopted,
      ttlMs: this.#leaseTtlMs,
      clock: this.#clock,
      holder: { kind: 'node', name: node, instance: owner?.instance ?? randomId(8) },
      events: {
        renewed: () => this.owner?.renewed(),
        lost: (holder) => this.owner?.lost(holder),
        vanished: (dataLost) => this.owner?.vanished(dataLost),
      },
    });
    try {
      await connectRedis(client, this.#connectTimeoutMs, this.#safeUrl, (message) =>
        this.owner?.unreachable?.(message),
      );
      await scripts.load();
      // A peer adopting this name's jobs right now finishes within a TTL: wait for it.
      await lease.acquire({ waitMs: this.#leaseTtlMs });
      // Registered once per open (not per save): the monitor lists nodes from this set.
      await client.sadd(this.#keys.nodes, node);
      // A mark of an adoption before this start is no news: what is stored is ours.
      await client.del(keys.adopted);
    } catch (err) {
      if (lease.state.status === 'held') await lease.release();
      if (this.#given === undefined) dropRedis(client);
      this.#client = undefined;
      if (this.#closed()) throw new ClosedError('redis storage was closed while opening');
      this.#node = '';
      this.#setState(State.Created);
      throw toStorageError(err, `cannot open Redis storage at ${this.#safeUrl}`);
    }
    if (this.#closed()) {
      await lease.release();
      if (this.#given === undefined) dropRedis(client);
      throw new ClosedError('redis storage was closed while opening');
    }
    this.#nodeKeys = keys;
    this.#scripts = scripts;
    this.#lease = lease;
    lease.startRenewing();
    if (owner !== undefined) {
      this.#adoption = new AdoptionWatcher({
        redis: scripts,
        keys: this.#keys,
        node,
        lease,
        clock: this.#clock,
        owner,
      });
      this.#adoption.start();
    }
    this.#up = client.status === 'ready';
    this.#detach = this.#watch(client);
    this.#setState(State.Open);
  }

  save(job: JobRecord): Promise<void> {
    try {
      this.#live();
      if (job.node !== this.#node) {
        throw new InvalidArgumentError(
          `cannot save job ${job.id} of node ${job.node} in the storage of node ${this.#node}`,
        );
      }
      const value = encodeRecord(job);
      const b = this.#batchFor('save job', job.id);
      b.jobs.set(job.id, value);
      return this.#queued(b);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async load(id: string): Promise<JobRecord | undefined> {
    const { client, keys } = this.#live();
    const value = await this.#run(`load job ${id}`, () => client.hgetBuffer(keys.jobs, id));
    return value === null ? undefined : decodeRecord(value, id, this.#node);
  }

  remove(id: string): Promise<void> {
    try {
      this.#live();
      const b = this.#batchFor('remove job', id);
      b.jobs.set(id, null);
      return this.#queued(b);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async list(filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]> {
    const { client, keys } = this.#live();
    const wanted = statusSet(filter?.status);
    if (wanted?.size === 0) return [];
    const entries = await this.#run('list jobs', () => scanHash(client, keys.jobs));
    const out: JobRecord[] = [];
    for (const [id, value] of entries) {
      const record = decodeRecord(value, id, this.#node);
      if (wanted === undefined || wanted.has(record.status)) out.push(record);
    }
    return out;
  }

  saveFeedback(feedback: Feedback): Promise<void> {
    try {
      this.#live();
      const value = encodeFeedback(feedback);
      const b = this.#batchFor('save feedback', feedback.key);
      this.#lazy.rewritten(feedback.key);
      b.feedbacks.set(feedback.key, value);
      return this.#queued(b);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  finish(id: string, record: JobRecord | undefined, feedback: Feedback): Promise<void> {
    try {
      this.#live();
      if (record !== undefined && record.node !== this.#node) {
        throw new InvalidArgumentError(
          `cannot save job ${id} of node ${record.node} in the storage of node ${this.#node}`,
        );
      }
      const value = record === undefined ? null : encodeRecord(record);
      const fb = encodeFeedback(feedback);
      // In one fenced batch, the feedback and the record (saved, or the job removed): a
      // failure between the two cannot happen (the batch is one script), and a job never
      // ends stored as finished without its feedback.
      const b = this.#batchFor('finish job', id);
      this.#lazy.rewritten(feedback.key);
      b.feedbacks.set(feedback.key, fb);
      b.jobs.set(id, value);
      return this.#queued(b);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolves once they are removed, which waits for another write to go with (at most
   * LAZY_REMOVAL_MS), or `close()`.
   */
  removeFeedback(fbKeys: readonly string[]): Promise<void> {
    try {
      this.#live();
      return this.#lazy.remove(fbKeys, this.#batch);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** No other write came along in time (or too many wait): the removals go on their own. */
  #lazyDue(): void {
    if (this.#state !== State.Open) return;
    const first = this.#lazy.first;
    // All of them written again since (then they are not removed): settled with that write.
    if (first === undefined) return this.#lazy.settle(this.#batch?.done);
    this.#batchFor('remove feedback', first);
  }

  async listFeedbacks(): Promise<Feedback[]> {
    const { client, keys } = this.#live();
    const entries = await this.#run('list feedbacks', () => scanHash(client, keys.feedback));
    return [...entries].map(([key, value]) => decodeFeedback(value, key, this.#node));
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    const client = this.#client;
    // Removals still waiting go now, ahead of the release on the same connection.
    if (this.#state === State.Open && this.#lazy.size > 0) {
      this.#flush(this.#batchFor('remove feedback', this.#lazy.first ?? ''));
    }
    this.#lazy.settle(this.#batch?.done);
    this.#adoption?.stop();
    this.#adoption = undefined;
    // Released before quitting: a clean stop hands the name (and its jobs) over at once.
    if (this.#state === State.Open) await this.#lease?.release();
    this.#detach?.();
    this.#detach = undefined;
    this.#client = undefined;
    this.#setState(State.Closed);
    if (client !== undefined && this.#given === undefined) await quitRedis(client);
  }

  #setState(next: State): void {
    this.#state = next;
  }

  /** Read through a method: `close()` may run while `open()` awaits. */
  #closed(): boolean {
    return this.#state === State.Closed;
  }

  /**
   * This turn's batch of fenced writes (see `jrBatch`), opened by its first write: every
   * write issued in one event-loop turn goes out as one script call, fenced once (group
   * commit). Only each field's last write is sent (a save then a removal of the same job
   * is one HDEL, as applying them in order would leave it). They succeed or fail together
   * (one lease, one connection).
   */
  #batchFor(verb: string, id: string): WriteBatch {
    const open = this.#batch;
    if (open !== undefined) return open;
    const { done, resolve, reject } = deferred();
    const batch: WriteBatch = {
      jobs: new Map(),
      feedbacks: new Map(),
      writes: 0,
      verb,
      id,
      done,
      resolve,
      reject,
    };
    this.#batch = batch;
    queueMicrotask(() => this.#flush(batch));
    return batch;
  }

  /** Counts one write into `b`; resolves once Redis applied the batch. */
  #queued(b: WriteBatch): Promise<void> {
    if (++b.writes >= MAX_BATCH_WRITES) this.#flush(b);
    return b.done;
  }

  #flush(b: WriteBatch): void {
    if (this.#batch !== b) return; // flushed already (full)
    this.#batch = undefined;
    // None of them was written after its removal (that write dropped it from the set).
    this.#lazy.handTo(b);
    const what = `${b.verb} ${b.id}${b.writes > 1 ? ` and ${b.writes - 1} more writes` : ''}`;
    let run: Promise<number>;
    try {
      const { scripts, keys } = this.#live();
      const token = this.#token();
      const writes = encodeWrites(b.jobs, b.feedbacks);
      run = this.#run(what, () =>
        scripts.jrBatch(keys.lease, keys.jobs, keys.feedback, token, writes),
      );
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(b.resolve, b.reject);
  }

  /** The fencing token every write carries. */
  #token(): string {
    return this.#lease?.token ?? '';
  }

  #live(): { client: Redis; scripts: RedisScripts; keys: NodeKeys } {
    if (this.#state === State.Open && this.#client && this.#scripts && this.#nodeKeys) {
      return { client: this.#client, scripts: this.#scripts, keys: this.#nodeKeys };
    }
    if (this.#state === State.Closed) throw new ClosedError('redis storage is closed');
    throw new StorageError('redis storage is not open: call open(node) first');
  }

  async #run<T>(what: string, op: () => Promise<T>, again = true): Promise<T> {
    try {
      return await op();
    } catch (err) {
      // Redis restarted and the reconnect's SCRIPT LOAD has not run yet: load, send again.
      if (again && isNoScript(err) && this.#scripts !== undefined) {
        await this.#scripts.load().catch(() => {});
        return this.#run(what, op, false);
      }
      if (err instanceof Error && err.message.startsWith(LEASE_REFUSED)) {
        throw new LeaseLostError(
          `Redis refused to ${what}: node ${this.#node} no longer holds the lease on its name`,
          { cause: err },
        );
      }
      const down = this.#client !== undefined && this.#client.status !== 'ready';
      const where = down
        ? ` (node ${this.#node}; Redis at ${this.#safeUrl} is unreachable)`
        : ` (node ${this.#node})`;
      throw toStorageError(err, `Redis could not ${what}${where}`);
    }
  }

  /** Follows the connection's ups and downs; returns a function that stops following. */
  #watch(client: Redis): () => void {
    const set = (up: boolean) => {
      if (this.#up === up || this.#state !== State.Open) return;
      this.#up = up;
      try {
        this.onStatusChange?.(up);
      } catch {
        // A listener's bug must not break the client's event loop; documented as ignored.
      }
    };
    // Back from a disconnect: renew first (Redis may have restarted empty, which the
    // renewal detects and reports), then say so, so no write races the lost lease.
    const onReady = () => {
      const lease = this.#lease;
      if (lease === undefined || this.#up) return set(true);
      void (this.#scripts?.load() ?? Promise.resolve())
        .catch(() => {})
        .then(() => lease.renew())
        .finally(() => set(true));
    };
    const onDown = () => set(false);
    client.on('ready', onReady);
    client.on('close', onDown);
    client.on('end', onDown);
    return () => {
      client.off('ready', onReady);
      client.off('close', onDown);
      client.off('end', onDown);
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a number > 0 (got ${String(value)})`);
  }
  return value;
}

function statusSet(
  status: JobStatus | readonly JobStatus[] | undefined,
): ReadonlySet<JobStatus> | undefined {
  if (status === undefined) return undefined;
  return new Set(typeof status === 'string' ? [status] : status);
}
