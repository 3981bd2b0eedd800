import type { JobRecord } from '../../model/job.ts';
import { idParts } from '../../protocol/batch-frames.ts';
import type { Logger } from '../../model/logger.ts';
import type { DistributorLink } from '../links/distributor-link.ts';
import type { ReadyEntry } from '../lifecycle/ready-queue.ts';

/** What LinkOwnership needs from its node. */
export interface OwnershipHooks {
  /** The link to distributor `id`, if the node has one. */
  link(distributor: string): DistributorLink | undefined;
  /** Ids of every job of `distributor` the node holds now (stored, due, running). */
  heldIds(distributor: string): Promise<string[]>;
  /** A suspended job is the node's own after all: run it. */
  resume(entry: ReadyEntry): void;
  /** Job `id` is not the node's any more (the distributor sent it elsewhere): drop it unrun. */
  drop(id: string): void;
  log: Logger;
}

/** One distributor's standing, as this node sees it. */
interface Standing {
  /** Due jobs held back until the distributor confirms they are still this node's. */
  readonly suspended: Map<string, ReadyEntry>;
  /** Reconcile requests sent on the current connection, oldest first (answers come in order). */
  requests: string[][];
  /** Ids already in a request, so a request names each once. */
  readonly requested: Set<string>;
  /** A reconnect's request is being put together (its list of held jobs is being read). */
  preparing: boolean;
  requestScheduled: boolean;
}

/**
 * A memory-storage node's hold on the jobs of each distributor: valid only while that link
 * is fresh. The distributor re-sends a memory node's jobs elsewhere once the link has been
 * silent for its detection timeout (3 heartbeats); the node's lease (`leaseMs`, shorter)
 * runs out first, so a node that was frozen (SIGSTOP, a blocked loop, a partition) never
 * runs, on waking, a job that was already handed to another node.
 *
 * Per distributor: a job due while the link is silent past the lease, down, or being
 * reconciled is suspended, not started. The node then asks (`reconcile`) which of them
 * are still its own; the answer (`owned`) resumes those and drops the rest without running
 * them. After a reconnect the question covers every job of that distributor the node
 * holds: the distributor took them all back when the old link dropped, and only those it
 * sent to this node again are its own.
 *
 * Durable nodes do not use this: their storage lease fences them instead.
 */
export class LinkOwnership {
  readonly #leaseMs: number;
  readonly #hooks: OwnershipHooks;
  readonly #standing = new Map<string, Standing>();

  constructor(leaseMs: number, hooks: OwnershipHooks) {
    this.#leaseMs = leaseMs;
    this.#hooks = hooks;
  }

  /** Jobs suspended now, over every distributor. */
  get suspended(): number {
    let n = 0;
    for (const s of this.#standing.values()) n += s.suspended.size;
    return n;
  }

  /**
   * True when the node may start `record` now. Otherwise the entry is kept here (suspended)
   * until the distributor has said whether the job is still this node's.
   */
  mayStart(record: JobRecord, entry?: ReadyEntry): boolean {
    const st = this.#standing.get(record.distributor);
    const link = this.#hooks.link(record.distributor);
    const trusted = st === undefined || (st.requests.length === 0 && !st.preparing);
    if (trusted && link !== undefined && link.silentFor() <= this.#leaseMs) return true;
    const s = st ?? this.#standingOf(record.distributor);
    s.suspended.set(record.id, entry?.record ? entry : { id: record.id, record });
    this.#hooks.log.debug(
      { jobId: record.id, distributor: record.distributor, silentMs: link?.silentFor() },
      'link to the distributor is not fresh: job held back until the distributor confirms it',
    );
    this.#scheduleRequest(record.distributor, s);
    return false;
  }

  has(id: string): boolean {
    for (const s of this.#standing.values()) if (s.suspended.has(id)) return true;
    return false;
  }

  /** Ids of the suspended jobs (held back until their distributor confirms them). */
  *ids(): IterableIterator<string> {
    for (const s of this.#standing.values()) yield* s.suspended.keys();
  }

  /** Takes a suspended job out (it was cancelled); its entry, or undefined. */
  remove(id: string): ReadyEntry | undefined {
    for (const s of this.#standing.values()) {
      const entry = s.suspended.get(id);
      if (entry !== undefined) {
        s.suspended.delete(id);
        return entry;
      }
    }
    return undefined;
  }

  /**
   * `link` (re)connected. On a reconnect, nothing the node holds of that distributor is
   * trusted until it answers: one request names all of it.
   */
  async linkReady(link: DistributorLink): Promise<void> {
    const id = link.distributorId;
    if (id === undefined) return;
    const s = this.#standingOf(id);
    // Requests sent on the old connection will never be answered.
    s.requests = [];
    s.requested.clear();
    if (link.connections <= 1 && s.suspended.size === 0) return;
    s.preparing = true;
    let ids: string[];
    try {
      ids = await this.#hooks.heldIds(id);
    } catch (err) {
      this.#hooks.log.error({ err, distributor: id }, 'could not list the jobs to reconcile');
      ids = [];
    }
    s.preparing = false;
    if (link.distributorId !== id || !link.ready) return; // dropped meanwhile: next time
    const all = new Set(ids);
    for (const sid of s.suspended.keys()) all.add(sid);
    if (all.size > 0) this.#send(link, s, [...all]);
  }

  /** The distributor's answer to the oldest request on `link`. */
  answered(link: DistributorLink, owned: readonly string[]): void {
    const id = link.distributorId;
    const s = id === undefined ? undefined : this.#standing.get(id);
    const request = s?.requests.shift();
    if (s === undefined || request === undefined) {
      this.#hooks.log.warn({ address: link.address }, 'unexpected reconcile answer');
      return;
    }
    const mine = new Set(owned);
    let dropped = 0;
    for (const jid of request) {
      s.requested.delete(jid);
      const entry = s.suspended.get(jid);
      if (mine.has(jid)) {
        if (entry === undefined) continue;
        s.suspended.delete(jid);
        this.#hooks.resume(entry);
      } else {
        s.suspended.delete(jid);
        dropped++;
        this.#hooks.drop(jid);
      }
    }
    if (dropped > 0) {
      this.#hooks.log.warn(
        { distributor: id, dropped, kept: request.length - dropped },
        'dropped jobs the distributor had sent elsewhere while the link was not fresh',
      );
    }
    // Jobs suspended while the answer was on its way were not in it: ask about them too.
    if (s.requests.length === 0 && s.suspended.size > 0) this.#scheduleRequest(id!, s);
  }

  /** The node stops: suspended jobs are the distributor's again (it re-sends them). */
  clear(): void {
    this.#standing.clear();
  }

  #standingOf(id: string): Standing {
    let s = this.#standing.get(id);
    if (s === undefined) {
      s = {
        suspended: new Map(),
        requests: [],
        requested: new Set(),
        preparing: false,
        requestScheduled: false,
      };
      this.#standing.set(id, s);
    }
    return s;
  }

  /** One request per distributor per turn, naming the suspended jobs not asked about yet. */
  #scheduleRequest(id: string, s: Standing): void {
    if (s.requestScheduled) return;
    s.requestScheduled = true;
    queueMicrotask(() => {
      s.requestScheduled = false;
      // A reconnect's request is coming and will name them.
      if (s.preparing) return;
      const link = this.#hooks.link(id);
      if (link === undefined || !link.ready) return; // asked after the next reconnect
      const ids = [...s.suspended.keys()].filter((jid) => !s.requested.has(jid));
      if (ids.length > 0) this.#send(link, s, ids);
    });
  }

  /**
   * One request per frame's worth of ids, each answered on its own, in order: a node holding
   * 400k jobs of a distributor asked about them all in one 9 MB frame, over the 8 MiB limit,
   * and the refused send took the node process down. Half a frame each, so the answer (a
   * subset of the ids) fits too.
   */
  #send(link: DistributorLink, s: Standing, ids: string[]): void {
    let asked = 0;
    for (const part of idParts(ids, link.maxFrameSize / 2)) {
      if (!link.send({ t: 'reconcile', ids: part })) break;
      s.requests.push(part);
      for (const jid of part) s.requested.add(jid);
      asked += part.length;
    }
    if (asked === 0) return;
    this.#hooks.log.info(
      { distributor: link.distributorId, jobs: asked, requests: s.requests.length },
      'asking the distributor which jobs are still this node’s',
    );
  }
}
