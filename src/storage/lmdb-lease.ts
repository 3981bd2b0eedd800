import type { Database } from 'lmdb';
import { DuplicateNodeError } from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import { LeaseState, LeaseStatus } from './lease-state.ts';
import { leaseKey } from './lmdb-keys.ts';
import { currentProcess, isRunning, type ProcessIdentity } from './process-identity.ts';

/** What is stored under `lease/<node>`; the entry's LMDB version is the fencing token. */
export interface LmdbLeaseRecord extends ProcessIdentity {
  /** WorkerNode.instance of the holder (for log lines). */
  instance: string;
  /** Last renewal, epoch ms (only trusted where the holder's process cannot be checked). */
  beat: number;
  /** Set by a clean close: the name is free, and the version stays for the next holder. */
  released?: true;
}

/** What the lease tells its storage. */
export interface LmdbLeaseEvents {
  renewed(): void;
  /** Another process took the name (`holder` described for a log line). */
  lost(holder: string): void;
}

/**
 * A node's lease on its name in one store directory, kept in the store itself. Taking it is
 * one write transaction (LMDB runs them one at a time across processes, so two starting
 * nodes cannot both win), and it succeeds when the name is free, cleanly released, or held
 * by a process that is provably gone: same machine and pid namespace, and no process with
 * that pid and start time (so a reused pid is not mistaken for the holder, and a node
 * restarted after SIGKILL gets its store back at once). A holder that cannot be checked
 * (another host or container sharing the directory) is gone only once its heartbeat, renewed
 * every TTL/3, is older than a TTL. A live holder makes it throw DuplicateNodeError.
 *
 * Every write of the storage is conditioned on the lease entry's version (`fence`): a
 * takeover raises it, so a stale holder (frozen past its TTL, then taken over) writes
 * nothing more.
 */
export class LmdbLease {
  readonly state: LeaseState;
  readonly #meta: Database<unknown, string>;
  readonly #key: string;
  readonly #node: string;
  readonly #clock: Clock;
  readonly #events: LmdbLeaseEvents;
  readonly #self: LmdbLeaseRecord;
  #version = 0;
  #timer: TimerHandle | undefined;
  #renewing: Promise<void> | undefined;

  constructor(opts: {
    meta: Database<unknown, string>;
    node: string;
    instance: string;
    ttlMs: number;
    clock: Clock;
    events: LmdbLeaseEvents;
  }) {
    this.state = new LeaseState(opts.ttlMs);
    this.#meta = opts.meta;
    this.#node = opts.node;
    this.#key = leaseKey(opts.node);
    this.#clock = opts.clock;
    this.#events = opts.events;
    this.#self = { ...currentProcess(), instance: opts.instance, beat: 0 };
  }

  /** The fencing token: the lease entry's version while held. */
  get version(): number {
    return this.#version;
  }

  trusted(): boolean {
    return this.state.trusted(this.#clock.now());
  }

  /** Takes the name (see the class comment); throws DuplicateNodeError while it is held. */
  acquire(): void {
    const now = this.#clock.now();
    this.#version = this.#meta.transactionSync(() => {
      const entry = this.#meta.getEntry(this.#key);
      const holder = asRecord(entry?.value);
      if (holder !== undefined && this.#held(holder, now)) {
        throw new DuplicateNodeError(
          `node name ${this.#node} is held by a live process: ${describe(holder)}`,
        );
      }
      const version = (entry?.version ?? 0) + 1;
      this.#meta.putSync(this.#key, { ...this.#self, beat: now }, { version });
      return version;
    });
    this.state.acquired(now);
    this.#arm();
  }

  /** Runs `writes` (puts and removes, queued synchronously) only while the lease is ours. */
  fence(writes: () => void): Promise<boolean> {
    return this.#meta.ifVersion(this.#key, this.#version, writes);
  }

  /** One renewal now (the timer calls this; tests may too). */
  renew(): Promise<void> {
    if (this.state.status !== LeaseStatus.Held) return Promise.resolve();
    this.#renewing ??= this.#renewOnce().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    const sentAt = this.#clock.now();
    let ok: boolean;
    try {
      const record = { ...this.#self, beat: sentAt };
      ok = await this.#meta.put(this.#key, record, this.#version, this.#version);
    } catch {
      return; // the disk failed this once: trust runs out on its own if it keeps failing
    }
    if (this.state.status !== LeaseStatus.Held) return;
    if (ok) {
      this.state.renewed(sentAt);
      this.#events.renewed();
      return;
    }
    this.state.lost();
    this.#disarm();
    const holder = asRecord(this.#meta.get(this.#key));
    this.#events.lost(holder === undefined ? 'an unknown holder' : describe(holder));
  }

  /** Stops renewing and marks the name free (if still ours), keeping its version. */
  async release(): Promise<void> {
    this.#disarm();
    const held = this.state.status === LeaseStatus.Held;
    if (this.state.status !== LeaseStatus.Released) this.state.released();
    if (!held) return;
    const record: LmdbLeaseRecord = { ...this.#self, beat: this.#clock.now(), released: true };
    await this.#meta.put(this.#key, record, this.#version, this.#version).catch(() => false);
  }

  /** Whether `holder` keeps the name from us at `now`. */
  #held(holder: LmdbLeaseRecord, now: number): boolean {
    if (holder.released === true) return false;
    const running = isRunning(holder, this.#self);
    if (running !== undefined) return running;
    return now - holder.beat < this.state.ttlMs;
  }

  #arm(): void {
    this.#disarm();
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        void this.renew().finally(() => {
          if (this.state.status === LeaseStatus.Held) this.#arm();
        });
      },
      Math.max(1, Math.floor(this.state.ttlMs / 3)),
    );
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }
}

/** A stored lease value as a record, or undefined when it is not one (then it is free). */
export function asRecord(value: unknown): LmdbLeaseRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Partial<LmdbLeaseRecord>;
  if (typeof r.pid !== 'number' || typeof r.beat !== 'number' || typeof r.host !== 'string')
    return undefined;
  return {
    pid: r.pid,
    start: String(r.start ?? ''),
    boot: String(r.boot ?? ''),
    ns: String(r.ns ?? ''),
    host: r.host,
    instance: String(r.instance ?? ''),
    beat: r.beat,
    ...(r.released === true ? { released: true as const } : {}),
  };
}

/** For messages: pid, host and instance of a holder. */
export function describe(holder: LmdbLeaseRecord): string {
  return `pid ${holder.pid} on host ${holder.host}, instance ${holder.instance}`;
}
