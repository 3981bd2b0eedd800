import type { Clock, TimerHandle } from '../model/clock.ts';
import {
  FINAL_STATUSES,
  JobStatus,
  recordCrash,
  type Feedback,
  type JobRecord,
} from '../model/job.ts';
import { isValidNodeName } from '../model/names.ts';
import type { StorageOwner } from './job-storage.ts';
import { decodeFeedback, decodeRecord, encodeRecord } from './record-codec.ts';
import { RedisLease } from './redis-lease.ts';
import { isCluster } from './redis-connection.ts';
import type { RedisKeys } from './redis-keys.ts';
import { isNoScript, type RedisScripts } from './redis-scripts.ts';

/** HSCAN page: one `jrMove` per page keeps each script short. */
const BATCH = 200;

/**
 * The record `from`'s job becomes on `node` when adopted (pure; `record` is not changed):
 * the new node, `delivery + 1`, and for one that was running when `from` died a crash
 * noted (it runs again: at-least-once).
 */
export function adoptedRecord(record: JobRecord, node: string, from: string): JobRecord {
  const r: JobRecord = { ...record, node, delivery: record.delivery + 1 };
  if (record.status === JobStatus.InProgress) recordCrash(r, from);
  return r;
}

/**
 * `jrMove` for a Redis Cluster, where no script may touch two nodes' keys (two slots,
 * perhaps two masters): copy to the adopter's hash the fields it lacks (`jrPut`, fenced by
 * the adopter's lease), delete from the dead node's hash the fields still unchanged
 * (`jrTake`, fenced by the adopting lease), then delete the copies whose source was not
 * deleted. Same outcome as `jrMove`; returns the fields moved.
 *
 * Copying first means a failure between the steps leaves a job in both hashes (it may run
 * twice: at-least-once, as for any crash in a takeover), never in neither. Such copies are
 * kept in `stranded`, and count as moved when a later scan takes their source.
 */
export async function moveAcrossSlots(
  redis: RedisScripts,
  m: {
    srcLease: string;
    src: string;
    srcToken: string;
    dstLease: string;
    dst: string;
    dstToken: string;
    /** (field, old value, new value) triples, as for `jrMove`. */
    triples: (string | Buffer)[];
    stranded: Set<string>;
  },
): Promise<string[]> {
  const put: (string | Buffer)[] = [];
  const take: (string | Buffer)[] = [];
  const copies = new Map<string, string | Buffer>();
  for (let i = 0; i + 2 < m.triples.length; i += 3) {
    const field = String(m.triples[i]);
    put.push(field, m.triples[i + 2]!);
    take.push(field, m.triples[i + 1]!);
    copies.set(field, m.triples[i + 2]!);
  }
  const copied = (await redis.jrPut(m.dstLease, m.dst, m.dstToken, ...put)).map(String);
  let taken: Set<string>;
  try {
    taken = new Set((await redis.jrTake(m.srcLease, m.src, m.srcToken, ...take)).map(String));
  } catch (err) {
    // The take may have run (a lost reply): deleting the copies could lose jobs.
    for (const f of copied) m.stranded.add(f);
    throw err;
  }
  const undo = copied.filter((f) => !taken.has(f));
  if (undo.length > 0) {
    await redis.jrTake(m.dstLease, m.dst, m.dstToken, ...undo.flatMap((f) => [f, copies.get(f)!]));
  }
  const moved = copied.filter((f) => taken.has(f));
  for (const f of taken) {
    if (m.stranded.delete(f) && !copied.includes(f)) moved.push(f);
  }
  return moved;
}

/**
 * Takeover of dead nodes' durable jobs. Every TTL/2 (± 25 % jitter, unref'd timer) it
 * looks at the other names in `P:nodes`: one with no lease key and stored jobs or
 * feedbacks is dead. It then takes a short `adopting` lease on that name (so two adopters
 * never move the same job, and a dead node restarting meanwhile waits instead of failing),
 * moves in HSCAN pages the live records whose job names the owner defines and that are
 * not `pinned`, and every unacknowledged feedback (they route by distributor id), each
 * page with one `jrMove` conditioned on both leases and on the source values being
 * unchanged, releases the adopting lease and hands what moved to the owner. On a Redis
 * Cluster, where the two names' keys are in different slots, a page moves in three fenced
 * single-slot steps instead ({@link moveAcrossSlots}).
 * Pinned jobs (`strictNode`) stay with their name until a node of that name returns.
 */
export class AdoptionWatcher {
  readonly #redis: RedisScripts;
  readonly #keys: RedisKeys;
  readonly #node: string;
  readonly #lease: RedisLease;
  readonly #clock: Clock;
  readonly #owner: StorageOwner;
  /** Dead names whose leftovers (final or unwanted jobs) were looked at: their counts then. */
  readonly #barren = new Map<string, string>();
  /** Cluster only: fields copied here whose source a failed step left in place. */
  readonly #stranded = new Set<string>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: {
    redis: RedisScripts;
    keys: RedisKeys;
    node: string;
    lease: RedisLease;
    clock: Clock;
    owner: StorageOwner;
  }) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#node = opts.node;
    this.#lease = opts.lease;
    this.#clock = opts.clock;
    this.#owner = opts.owner;
  }

  start(): void {
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** One look at every other name; resolves once the dead ones found are adopted. */
  async scan(): Promise<void> {
    const names = (await this.#redis.client.smembers(this.#keys.nodes)).filter(
      (n) => n !== this.#node && isValidNodeName(n),
    );
    if (names.length === 0) return;
    const counts = await Promise.all(
      names.map(async (name) => {
        const k = this.#keys.node(name);
        const [lease, jobs, fbs] = await Promise.all([
          this.#redis.client.exists(k.lease),
          this.#redis.client.hlen(k.jobs),
          this.#redis.client.hlen(k.feedback),
        ]);
        return { name, dead: lease === 0 && jobs + fbs > 0, seen: `${jobs}:${fbs}` };
      }),
    );
    for (const c of counts) {
      if (this.#stopped || !this.#lease.trusted()) return;
      if (!c.dead || this.#barren.get(c.name) === c.seen) continue;
      await this.#adopt(c.name, c.seen);
    }
  }

  async #adopt(dead: string, seen: string): Promise<void> {
    const from = this.#keys.node(dead);
    const to = this.#keys.node(this.#node);
    const adopting = new RedisLease({
      redis: this.#redis,
      key: from.lease,
      ttlMs: this.#lease.ttlMs,
      clock: this.#clock,
      holder: { kind: 'adopting', name: this.#node, instance: this.#owner.instance },
    });
    if (!(await adopting.acquire({ failIfHeld: false }))) return; // it is back, or a peer is on it
    // Before anything moves: a node that was only cut off (a Redis failover slower than its
    // TTL) then knows its missing jobs were adopted, not lost (see RedisLease).
    await this.#redis.client.set(from.adopted, this.#node, 'PX', this.#lease.ttlMs * 10);
    const records: JobRecord[] = [];
    const feedbacks: Feedback[] = [];
    try {
      await this.#move(from.jobs, to.jobs, adopting, from.lease, to.lease, (field, value) => {
        let record: JobRecord;
        try {
          record = decodeRecord(value, field, dead);
        } catch {
          return undefined; // corrupt: left for the monitor to see
        }
        if (FINAL_STATUSES.has(record.status) || record.pinned === true) return undefined;
        if (!this.#owner.accepts(record.name)) return undefined;
        const next = adoptedRecord(record, this.#node, dead);
        return { value: encodeRecord(next), done: () => records.push(next) };
      });
      await this.#move(
        from.feedback,
        to.feedback,
        adopting,
        from.lease,
        to.lease,
        (field, value) => {
          let fb: Feedback;
          try {
            fb = decodeFeedback(value, field, dead);
          } catch {
            return undefined;
          }
          return { value, done: () => feedbacks.push(fb) };
        },
      );
    } finally {
      await adopting.release();
    }
    if (records.length === 0 && feedbacks.length === 0) this.#barren.set(dead, seen);
    else this.#owner.adopted(dead, records, feedbacks);
  }

  /** Moves the fields `pick` wants from one hash to the other, a page per script call. */
  async #move(
    src: string,
    dst: string,
    adopting: RedisLease,
    srcLease: string,
    dstLease: string,
    pick: (field: string, value: Buffer) => { value: Buffer; done: () => void } | undefined,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, flat] = await this.#redis.client.hscanBuffer(src, cursor, 'COUNT', BATCH);
      cursor = next.toString();
      const args: (string | Buffer)[] = [];
      const done = new Map<string, () => void>();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const field = flat[i]!.toString('utf8');
        if (done.has(field)) continue; // HSCAN may repeat an entry
        const picked = pick(field, flat[i + 1]!);
        if (picked === undefined) continue;
        args.push(field, flat[i + 1]!, picked.value);
        done.set(field, picked.done);
      }
      if (args.length === 0) continue;
      const moved = isCluster(this.#redis.client)
        ? await moveAcrossSlots(this.#redis, {
            srcLease,
            src,
            srcToken: adopting.token,
            dstLease,
            dst,
            dstToken: this.#lease.token,
            triples: args,
            stranded: this.#stranded,
          })
        : await this.#redis.jrMove(
            srcLease,
            src,
            dstLease,
            dst,
            adopting.token,
            this.#lease.token,
            ...args,
          );
      for (const field of moved) done.get(String(field))?.();
    } while (cursor !== '0' && !this.#stopped);
  }

  #arm(): void {
    if (this.#stopped) return;
    const base = this.#lease.ttlMs / 2;
    const delay = Math.max(1, Math.round(base * (0.75 + Math.random() * 0.5)));
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      void this.scan()
        .catch((err: unknown) => {
          if (isNoScript(err)) return this.#redis.load().catch(() => {});
          this.#owner.adoptionFailed?.(err);
        })
        .finally(() => this.#arm());
    }, delay);
    this.#timer.unref?.();
  }
}
