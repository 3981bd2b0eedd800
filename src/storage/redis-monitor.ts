import type { Redis } from 'ioredis';
import { ClosedError, InvalidArgumentError, StorageError } from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import type { JobStatus } from '../model/job.ts';
import { type JobRecord } from '../model/job.ts';
import { isValidNodeName } from '../model/names.ts';
import { decodeRecord, encodeRecord } from './record-codec.ts';
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
import { RedisKeys } from './redis-keys.ts';
import { retriedRecord, type StorageMonitor } from './storage-monitor.ts';

export interface RedisMonitorOptions {
  /** Where the nodes keep their jobs. Ignored when `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** Bring your own ioredis client; `close()` does not quit it. */
  /** A `Redis` or a `Cluster`. */
  client?: RedisClient;
  /** The key prefix the nodes use. @default 'jr' */
  prefix?: string;
  /** Deadline to connect on first use, ms. @default 5000 */
  connectTimeoutMs?: number;
  /** Where `retry` reads "now". @default the system clock */
  clock?: Clock;
}

/** A node with data in Redis. */
export interface MonitoredNode {
  name: string;
  /** Jobs stored for it (any status). */
  jobs: number;
  /** Feedbacks waiting for their distributor's acknowledgement. */
  feedbacks: number;
}

/**
 * Compare-and-set of one hash field, so `retry` never overwrites a write the node made
 * between our read and our write.
 * KEYS[1]: the node's jobs hash. ARGV[1]: job id. ARGV[2]: the value as read.
 * ARGV[3]: the new value. Returns 1 when written, 0 when the field changed (or vanished).
 */
const CAS_SCRIPT = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;
const CAS_ATTEMPTS = 5;

/**
 * Lifecycle: idle --first call--> connected --close()--> closed (idempotent). Connects
 * lazily so constructing one never touches the network.
 */
const State = { Idle: 'idle', Connected: 'connected', Closed: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Looks at and repairs the jobs that nodes keep in Redis (JobReactor's `RedisMonitor`,
 * without its glob collisions): lists nodes and jobs, shows one, retries a failed one,
 * removes one or all of a node's. Every failure is a JobReactorError (StorageError for
 * Redis, InvalidArgumentError for a bad name or a missing job).
 *
 * A running node keeps its own schedule in memory: a job the monitor retries is picked up
 * when that node next starts (it resumes stored jobs in status `error`), and a job the
 * monitor removes stops at its next step (the node finds no record). A node that is
 * running the job at that moment may write the record back.
 */
export class RedisMonitor implements StorageMonitor {
  readonly #keys: RedisKeys;
  readonly #url: string;
  readonly #safeUrl: string;
  readonly #given: Redis | undefined;
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;
  #state: State = State.Idle;
  #client: Redis | undefined;
  #connecting: Promise<Redis> | undefined;

  constructor(options: RedisMonitorOptions = {}) {
    this.#keys = new RedisKeys(options.prefix);
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    this.#safeUrl = options.client ? describeClient(options.client) : redactUrl(this.#url);
    if (options.client === undefined) assertRedisUrl(this.#url);
    this.#given = options.client === undefined ? undefined : commandsOf(options.client);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Nodes that opened a storage under this prefix, by name, with their counts. */
  async nodes(): Promise<MonitoredNode[]> {
    const client = await this.#connected();
    return this.#run('list nodes', async () => {
      const names: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.sscan(this.#keys.nodes, cursor, 'COUNT', 200);
        cursor = next;
        names.push(...batch);
      } while (cursor !== '0');
      // A name that is not a valid node name was not written by a node: skip it.
      const unique = [...new Set(names)].filter(isValidNodeName).sort();
      // Auto-pipelining sends these counts in one round trip.
      return Promise.all(
        unique.map(async (name) => {
          const keys = this.#keys.node(name);
          const [jobs, feedbacks] = await Promise.all([
            client.hlen(keys.jobs),
            client.hlen(keys.feedback),
          ]);
          return { name, jobs, feedbacks };
        }),
      );
    });
  }

  /** A node's jobs, sorted by id (time-ordered for distributor ids), optionally by status. */
  async jobs(
    node: string,
    filter: { status?: JobStatus | readonly JobStatus[] } = {},
  ): Promise<JobRecord[]> {
    const keys = this.#keys.node(node);
    const client = await this.#connected();
    const entries = await this.#run(`list the jobs of node ${node}`, () =>
      scanHash(client, keys.jobs),
    );
    const wanted =
      filter.status === undefined
        ? undefined
        : new Set<JobStatus>(typeof filter.status === 'string' ? [filter.status] : filter.status);
    const out: JobRecord[] = [];
    for (const [id, value] of entries) {
      const record = decodeRecord(value, id, node);
      if (wanted === undefined || wanted.has(record.status)) out.push(record);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One job, or undefined. */
  async load(node: string, id: string): Promise<JobRecord | undefined> {
    const keys = this.#keys.node(node);
    const client = await this.#connected();
    const value = await this.#run(`load job ${id} of node ${node}`, () =>
      client.hgetBuffer(keys.jobs, id),
    );
    return value === null ? undefined : decodeRecord(value, id, node);
  }

  /**
   * Puts a `failed` job back to status `error`, attempt 0, due now, so the node runs it
   * again with a full set of attempts when it next starts (see the class comment). Keeps
   * `lastError`; drops `failedAt`. Throws InvalidArgumentError when the job does not
   * exist or is not `failed`. Returns the record as written.
   */
  async retry(node: string, id: string): Promise<JobRecord> {
    const keys = this.#keys.node(node);
    const client = await this.#connected();
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const before = await this.#run(`load job ${id} of node ${node}`, () =>
        client.hgetBuffer(keys.jobs, id),
      );
      if (before === null) throw new InvalidArgumentError(`no job ${id} on node ${node}`);
      const next = retriedRecord(decodeRecord(before, id, node), this.#clock.now());
      const after = encodeRecord(next);
      const written = await this.#run(`retry job ${id} of node ${node}`, () =>
        client.eval(CAS_SCRIPT, 1, keys.jobs, id, before, after),
      );
      if (written === 1) return next;
      // The node wrote the record meanwhile: read again and re-check.
    }
    throw new StorageError(
      `job ${id} on node ${node} kept changing; retry gave up after ${CAS_ATTEMPTS} tries`,
    );
  }

  /** Removes one job; true when it existed. */
  async remove(node: string, id: string): Promise<boolean> {
    const keys = this.#keys.node(node);
    const client = await this.#connected();
    const n = await this.#run(`remove job ${id} of node ${node}`, () => client.hdel(keys.jobs, id));
    return n > 0;
  }

  /**
   * Removes every job and pending feedback of one node (its two keys only: other nodes,
   * even `ba` next to `a`, are untouched) and forgets the node. Returns what was removed.
   * Meant for a stopped node: a running one keeps its in-memory schedule, may write jobs
   * back, and is listed by `nodes()` again only after its next start.
   */
  async removeAll(node: string): Promise<{ jobs: number; feedbacks: number }> {
    const keys = this.#keys.node(node);
    const client = await this.#connected();
    return this.#run(`remove the jobs of node ${node}`, async () => {
      // One slot (hash tag), so one transaction; the nodes set lives elsewhere.
      const replies = await client
        .multi()
        .hlen(keys.jobs)
        .hlen(keys.feedback)
        .unlink(keys.jobs, keys.feedback)
        .exec();
      await client.srem(this.#keys.nodes, node);
      const counts = (replies ?? []).map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      return { jobs: Number(counts[0] ?? 0), feedbacks: Number(counts[1] ?? 0) };
    });
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    this.#setState(State.Closed);
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    if (client !== undefined && this.#given === undefined) await quitRedis(client);
  }

  async #connected(): Promise<Redis> {
    if (this.#state === State.Closed) throw new ClosedError('redis monitor is closed');
    if (this.#client) return this.#client;
    this.#connecting ??= (async () => {
      const client = commandsOf(
        this.#given ??
          createRedisClient(this.#url, {
            connectTimeoutMs: this.#connectTimeoutMs,
            commandTimeoutMs: Math.max(this.#connectTimeoutMs, 5000),
            connectionName: 'jobreactor:monitor',
          }),
      );
      try {
        await connectRedis(client, this.#connectTimeoutMs, this.#safeUrl);
      } catch (err) {
        if (this.#given === undefined) dropRedis(client);
        this.#connecting = undefined;
        throw err;
      }
      if (this.#state === State.Closed) {
        if (this.#given === undefined) await quitRedis(client);
        throw new ClosedError('redis monitor was closed while connecting');
      }
      this.#client = client;
      this.#setState(State.Connected);
      return client;
    })();
    return this.#connecting;
  }

  #setState(next: State): void {
    this.#state = next;
  }

  async #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw toStorageError(err, `Redis could not ${what}`);
    }
  }
}
