import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DuplicateNodeError } from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import { LeaseState, LeaseStatus } from './lease-state.ts';
import { isCluster, serverFor } from './redis-connection.ts';
import { isNoScript, type RedisScripts } from './redis-scripts.ts';

/** Who holds a lease, as stored after the token (short keys: it is read on every start). */
export interface LeaseHolder {
  /** `node`: the node itself; `adopting`: a peer moving a dead node's jobs away. */
  kind: 'node' | 'adopting';
  /** Name of the node holding it (the adopter's for an `adopting` lease). */
  name: string;
  /** Instance id of the holding process (WorkerNode.instance). */
  instance: string;
  /** Redis CLIENT ID of the holder's connection: gone from CLIENT LIST = holder gone. */
  clientId: number;
  /** Redis run_id when it was taken: another run_id means every old connection is gone. */
  runId: string;
  pid: number;
  host: string;
}

/** What the lease tells its storage. */
export interface LeaseEvents {
  renewed(): void;
  /** Another token holds the name (`holder` described for a log line). */
  lost(holder: string): void;
  /**
   * The key was gone and was taken again. `dataLost`: it cannot have expired on its own
   * (the lease was still trusted when the renewal was sent) or Redis restarted, so Redis
   * lost data; otherwise it expired while this process was frozen or cut off.
   */
  vanished(dataLost: boolean): void;
}

/**
 * A lease on one name, kept in one Redis key with a TTL. Owns the key's value and the
 * renewal timer; the state (held, trusted until when, lost) is a {@link LeaseState}.
 * Taking a name fails with DuplicateNodeError while another live process holds it; a
 * holder whose connection is provably gone (its CLIENT ID is no longer connected, or Redis
 * restarted since) is replaced at once, by compare-and-set on the exact old value.
 */
export class RedisLease {
  readonly state: LeaseState;
  readonly #redis: RedisScripts;
  readonly #key: string;
  readonly #clock: Clock;
  readonly #holder: LeaseHolder;
  readonly #events: LeaseEvents | undefined;
  /** `<token>|`, the prefix every fenced script compares. */
  readonly token: string;
  #timer: TimerHandle | undefined;
  /** The renewal under way: a second caller waits for it rather than sending another. */
  #renewing: Promise<void> | undefined;
  /** Redis run_id when the key was last taken or renewed ('' unknown). */
  #renewedOn = '';
  /** The key an adopter of this name's jobs sets (node leases only). */
  readonly #adoptedKey: string | undefined;

  constructor(opts: {
    redis: RedisScripts;
    key: string;
    ttlMs: number;
    clock: Clock;
    holder: Omit<LeaseHolder, 'clientId' | 'runId' | 'pid' | 'host'>;
    events?: LeaseEvents;
    /** Node leases: the key adopters mark (`NodeKeys.adopted`). */
    adoptedKey?: string;
  }) {
    this.#adoptedKey = opts.adoptedKey;
    this.state = new LeaseState(opts.ttlMs);
    this.#redis = opts.redis;
    this.#key = opts.key;
    this.#clock = opts.clock;
    this.#events = opts.events;
    this.token = `${randomBytes(16).toString('hex')}|`;
    this.#holder = { ...opts.holder, clientId: 0, runId: '', pid: process.pid, host: hostname() };
  }

  get ttlMs(): number {
    return this.state.ttlMs;
  }

  /** Trusted now (held, renewed less than a TTL ago). */
  trusted(): boolean {
    return this.state.trusted(this.#clock.now());
  }

  /**
   * Takes the key. A live holder of kind `adopting` is waited for (up to `waitMs`); any
   * other live holder makes it throw DuplicateNodeError. Returns false instead of
   * throwing when `failIfHeld` is false (adoption: someone else is on it).
   */
  async acquire(opts: { waitMs?: number; failIfHeld?: boolean } = {}): Promise<boolean> {
    const until = this.#clock.now() + (opts.waitMs ?? 0);
    await this.#refreshHolder();
    for (;;) {
      const value = this.#value();
      const sentAt = this.#clock.now();
      if ((await this.#redis.client.set(this.#key, value, 'PX', this.ttlMs, 'NX')) === 'OK') {
        this.state.acquired(sentAt);
        this.#renewedOn ||= this.#holder.runId;
        return true;
      }
      const current = await this.#redis.client.get(this.#key);
      if (current === null) continue; // expired in between
      const holder = parseHolder(current);
      if (holder !== undefined && (await this.#gone(holder))) {
        if ((await this.#redis.jrSwap(this.#key, current, value, this.ttlMs)) === 1) {
          this.state.acquired(sentAt);
          this.#renewedOn ||= this.#holder.runId;
          return true;
        }
        continue; // changed in between: look again
      }
      if (holder?.kind === 'adopting' && this.#clock.now() < until) {
        await this.#sleep(Math.min(100, this.ttlMs / 10));
        continue;
      }
      if (opts.failIfHeld === false) return false;
      throw new DuplicateNodeError(
        `node name is held by a live process: ${describeHolder(holder, current)} (lease ${this.#key})`,
      );
    }
  }

  /** Renews every TTL/3 on an unref'd timer until `release`. */
  startRenewing(): void {
    this.#arm();
  }

  /** One renewal now (the timer calls this; so does a reconnect; tests may too). */
  renew(): Promise<void> {
    if (this.#renewing !== undefined) return this.#renewing;
    if (this.state.status !== LeaseStatus.Held) return Promise.resolve();
    this.#renewing = this.#renewOnce().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    const sentAt = this.#clock.now();
    const wasTrusted = this.state.trusted(sentAt);
    try {
      // The server of the last renewal that got through, not of the last ask: a round
      // that learns the new run_id and then fails (NOSCRIPT on a promoted replica) must
      // not hide the change from the next one.
      const runIdBefore = this.#renewedOn;
      await this.#refreshHolder();
      const r = await this.#redis.jrRenew(this.#key, this.token, this.#value(), this.ttlMs);
      if (this.state.status !== LeaseStatus.Held) return; // released meanwhile
      // Read again after `acquire` below, which asks the server anew: right after a
      // failover the first ask may not have reached the new master yet.
      const restarted = () => runIdBefore !== '' && runIdBefore !== this.#holder.runId;
      if (r === 1 && restarted() && isCluster(this.#redis.client)) {
        // Another server holds our slot now: a failover to a replica, which replicates
        // asynchronously, so writes acknowledged just before it may be gone although the
        // lease (renewed earlier) survived. Reconciled as a loss: what is gone is reported.
        this.state.renewed(sentAt);
        this.#renewedOn = this.#holder.runId;
        this.#events?.vanished(true);
      } else if (r === 1) {
        this.state.renewed(sentAt);
        this.#renewedOn = this.#holder.runId;
        this.#events?.renewed();
      } else if (r === 0) {
        this.state.vanished();
        if (await this.acquire({ failIfHeld: false, waitMs: this.ttlMs })) {
          // A peer that adopted jobs of ours left its mark: what is missing went there.
          const adopted = await this.#adoptedSince();
          const dataLost = !adopted && (wasTrusted || restarted());
          this.#renewedOn = this.#holder.runId;
          this.#events?.vanished(dataLost);
        } else {
          this.state.lost();
          this.#events?.lost(
            describeHolder(parseHolder((await this.#redis.client.get(this.#key)) ?? '')),
          );
        }
      } else {
        this.state.lost();
        this.#events?.lost(describeHolder(parseHolder(String(r)), String(r)));
      }
    } catch (err) {
      // Redis unreachable: the next tick tries again; trust runs out on its own meanwhile.
      // A restarted Redis without our scripts gets them back for that next tick.
      if (isNoScript(err)) await this.#redis.load().catch(() => {});
    }
  }

  /** Stops renewing and deletes the key if it is still ours. */
  async release(): Promise<void> {
    this.#disarm();
    const held = this.state.status === LeaseStatus.Held;
    if (this.state.status !== LeaseStatus.Released) this.state.released();
    if (held) await this.#redis.jrRelease(this.#key, this.token).catch(() => 0);
  }

  /** True (and the mark cleared) when a peer adopted this name's jobs since the mark was last cleared. */
  async #adoptedSince(): Promise<boolean> {
    if (this.#adoptedKey === undefined) return false;
    try {
      return (await this.#redis.client.del(this.#adoptedKey)) === 1;
    } catch {
      return false; // unreachable again: decided as if no peer had come
    }
  }

  #arm(): void {
    this.#disarm();
    if (this.state.status === LeaseStatus.Released || this.state.status === LeaseStatus.Lost)
      return;
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        void this.renew().finally(() => this.#arm());
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #value(): string {
    const h = this.#holder;
    return `${this.token}${JSON.stringify([h.kind, h.name, h.instance, h.clientId, h.runId, h.pid, h.host])}`;
  }

  /** Our connection's CLIENT ID and the server's run_id (both change on a reconnect/restart). */
  async #refreshHolder(): Promise<void> {
    try {
      // On a Cluster: the connection to, and the server of, the master holding our key.
      const server = await serverFor(this.#redis.client, this.#key);
      const [id, info] = await Promise.all([server.client('ID'), server.info('server')]);
      this.#holder.clientId = Number(id);
      this.#holder.runId = /run_id:(\w+)/.exec(info)?.[1] ?? '';
    } catch {
      // Redis down (the renewal fails next), or a server that refuses CLIENT or INFO (some
      // managed Redis): the last values stay; without any, no holder's death can be
      // proven, so a restarted node waits out the TTL instead.
    }
  }

  /** True when the holder's connection is provably gone. */
  async #gone(holder: LeaseHolder): Promise<boolean> {
    if (holder.clientId === 0 || this.#holder.clientId === 0) return false; // unknown: no proof
    if (holder.runId !== this.#holder.runId)
      return holder.runId !== '' && this.#holder.runId !== '';
    // Same connection: it is us only if it is our own instance (two storages may share a client).
    if (holder.clientId === this.#holder.clientId) return holder.instance === this.#holder.instance;
    try {
      const server = await serverFor(this.#redis.client, this.#key);
      const list = (await server.client('LIST', 'ID', String(holder.clientId))) as string;
      return list.trim() === '';
    } catch {
      return false;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimer(resolve, ms));
  }
}

/** Decodes a lease value; undefined for anything malformed. */
export function parseHolder(value: string): LeaseHolder | undefined {
  const bar = value.indexOf('|');
  if (bar < 0) return undefined;
  try {
    const t = JSON.parse(value.slice(bar + 1)) as unknown;
    if (!Array.isArray(t) || t.length !== 7) return undefined;
    const [kind, name, instance, clientId, runId, pid, host] = t as unknown[];
    if (
      (kind !== 'node' && kind !== 'adopting') ||
      typeof name !== 'string' ||
      typeof instance !== 'string' ||
      typeof clientId !== 'number' ||
      typeof runId !== 'string' ||
      typeof pid !== 'number' ||
      typeof host !== 'string'
    )
      return undefined;
    return { kind, name, instance, clientId, runId, pid, host };
  } catch {
    return undefined;
  }
}

/** For messages: pid, host and instance of a holder (never its token). */
export function describeHolder(holder: LeaseHolder | undefined, raw = ''): string {
  if (holder === undefined) return `an unreadable holder (${raw.length} bytes)`;
  const what = holder.kind === 'adopting' ? `node ${holder.name} adopting its jobs` : 'node';
  return `${what} pid ${holder.pid} on host ${holder.host}, instance ${holder.instance}`;
}
