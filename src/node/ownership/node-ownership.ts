import { LeaseLostError, StorageLostError } from '../../errors.ts';
import type { Feedback, JobRecord } from '../../model/job.ts';
import type { Logger } from '../../model/logger.ts';
import type { JobStorage, StorageOwner } from '../../storage/job-storage.ts';
import type { FeedbackOutbox } from '../links/feedback-outbox.ts';
import type { AttemptOutcome } from '../running/job-runner.ts';
import { KnownJobs } from './known-jobs.ts';
import type { NodeEvents } from '../node-events.ts';
import { quarantineOutcome, storageLostFeedback } from './ownership-outcomes.ts';
import type { ReadyEntry } from '../lifecycle/ready-queue.ts';

/** What NodeOwnership needs of its WorkerNode (its queues stay the node's own). */
export interface OwnershipHost {
  readonly name: string;
  readonly instance: string;
  readonly log: Logger;
  readonly storage: JobStorage;
  readonly outbox: FeedbackOutbox;
  /** 'running' or 'starting' (and not stopping). */
  active(): boolean;
  /** Whether the node defines jobs of this name. */
  accepts(name: string): boolean;
  /** Onto the timers or the ready queue, by due time. */
  schedule(record: JobRecord): void;
  /** Onto the ready queue, then pump. */
  run(entries: Iterable<ReadyEntry>): void;
  /** Ends a job with this outcome (settled like an attempt's). */
  settle(record: JobRecord, outcome: AttemptOutcome): void;
  /** Takes a job out of the timers and the ready queue, stops it if it runs (not settled). */
  forget(id: string): void;
  /** Empties the timers and the ready queue. */
  forgetAll(): void;
  /** The job is being stored right now (received, write not answered yet). */
  saving(id: string): boolean;
  /** False while the storage is known to be down (or the node takes no job for good). */
  storageUp(): boolean;
  /** Tells the distributors to send nothing more. */
  stopAccepting(): void;
  storageFailed(err: unknown, id: string): void;
  emit<K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]): void;
}

/**
 * A WorkerNode's side of owning durable jobs through a lease on its name (Redis): the gate
 * that starts nothing while the lease cannot be trusted, the jobs it holds (to end them if
 * the storage loses data), quarantine of poison jobs, and what to do when the lease is
 * lost, vanished, or jobs were adopted from a dead peer. It is the storage's
 * {@link StorageOwner}.
 * States: owning → lost (another process holds the name; final).
 */
export class NodeOwnership implements StorageOwner {
  readonly #host: OwnershipHost;
  readonly #maxDeliveries: number;
  /**
   * Jobs held, with their distributor (durable storage only): to end the ones a storage
   * lost while the node ran. Not kept for a storage that cannot lose them so (`keepsData`).
   */
  readonly known: KnownJobs;
  /** Jobs due while the lease could not be trusted: started once a renewal succeeds. */
  readonly #parked = new Map<string, ReadyEntry>();
  #state: 'owning' | 'lost' = 'owning';

  constructor(host: OwnershipHost, maxDeliveries: number) {
    this.#host = host;
    this.#maxDeliveries = maxDeliveries;
    this.known = new KnownJobs(host.storage.keepsData !== true);
  }

  get instance(): string {
    return this.#host.instance;
  }

  /** Another process holds the name: nothing of this storage runs any more. */
  get isLost(): boolean {
    return this.#state === 'lost';
  }

  /** Whether job `id` waits here for the lease to be trusted again. */
  parks(id: string): boolean {
    return this.#parked.has(id);
  }

  /** Ids of the jobs parked until the lease is trusted again. */
  parkedIds(): IterableIterator<string> {
    return this.#parked.keys();
  }

  accepts(name: string): boolean {
    return this.#host.accepts(name);
  }

  /**
   * The gate before an attempt starts: while the storage cannot vouch that this node
   * still owns its jobs (no renewal for a TTL: frozen, cut off), the job waits for the
   * next successful renewal; once the lease is lost it is dropped (the new owner runs it).
   */
  allows(id: string, record: JobRecord, marked: boolean): boolean {
    if (this.#host.storage.leaseValid !== false) return true;
    if (this.#state === 'owning') this.#parked.set(id, { id, record, marked });
    return false;
  }

  /** A job read from storage (resumed, adopted, re-sent): quarantined if poison, else scheduled. */
  takeStored(record: JobRecord): void {
    this.known.add(record);
    const poison = quarantineOutcome(record, this.#maxDeliveries);
    if (poison === undefined) return this.#host.schedule(record);
    if (poison.kind === 'error') {
      this.#host.log.error(
        {
          jobId: record.id,
          name: record.name,
          nodes: record.crashedOn ?? [],
          code: poison.error.code,
        },
        `job quarantined: ${poison.error.message}`,
      );
      this.#host.emit('job:quarantined', record, poison.error);
    }
    this.#host.settle(record, poison);
  }

  unreachable(message: string): void {
    this.#host.log.warn({ node: this.#host.name }, message);
  }

  renewed(): void {
    if (this.#parked.size === 0 || !this.#host.active()) return;
    const entries = [...this.#parked.values()];
    this.#parked.clear();
    this.#host.run(entries);
  }

  lost(holder: string): void {
    if (this.#state === 'lost' || !this.#host.active()) return;
    this.#setState('lost');
    const error = new LeaseLostError(
      `node ${this.#host.name} lost the lease on its name to ${holder}: it runs none of its jobs any more`,
    );
    this.#host.log.error({ code: error.code }, error.message);
    this.#host.forgetAll();
    this.#parked.clear();
    this.known.clear();
    this.#host.stopAccepting();
    this.#host.emit('lease:lost', error);
  }

  vanished(dataLost: boolean): void {
    void this.#reconcile(dataLost);
  }

  adopted(from: string, records: JobRecord[], feedbacks: Feedback[]): void {
    this.#host.log.info(
      { from, jobs: records.length, feedbacks: feedbacks.length },
      `adopted the jobs of dead node ${from}`,
    );
    for (const fb of feedbacks) void this.#host.outbox.push(fb, true);
    for (const record of records) this.takeStored(record);
    this.#host.emit('jobs:adopted', from, records.length, feedbacks.length);
  }

  adoptionFailed(err: unknown): void {
    // While the storage is down every scan fails: that is said once, by 'storage is down'.
    if (!this.#host.storageUp()) return;
    this.#host.log.warn({ err }, 'takeover scan failed');
  }

  /**
   * The lease key was gone (and is ours again). Jobs held here but no longer stored were
   * lost with Redis's data (`dataLost`: each ends with a StorageLostError feedback), or
   * adopted by a peer while this node was frozen (dropped: the peer runs them). Running
   * ones are stopped either way.
   */
  async #reconcile(dataLost: boolean): Promise<void> {
    const host = this.#host;
    let stored: Set<string>;
    try {
      stored = new Set((await host.storage.list()).map((r) => r.id));
    } catch (err) {
      return host.storageFailed(err, '(reconcile)');
    }
    const gone = this.known.list().filter((j) => !stored.has(j.id) && !host.saving(j.id));
    for (const job of gone) {
      this.known.delete(job.id);
      this.#parked.delete(job.id);
      host.forget(job.id);
    }
    if (dataLost) {
      const error = new StorageLostError(
        `the storage of node ${host.name} lost data (Redis restarted empty or was flushed): ${gone.length} jobs it held end with this error`,
      );
      // With no job lost it is worth a warning (the storage was emptied), not an error.
      host.log[gone.length > 0 ? 'error' : 'warn'](
        { code: error.code, jobs: gone.length },
        error.message,
      );
      host.emit('storage:lost', error, gone.length);
      await host.outbox.repersist();
      for (const job of gone) await host.outbox.push(storageLostFeedback(job, host.name));
    } else {
      host.log.warn({ dropped: gone.length }, 'lease had expired: jobs adopted meanwhile dropped');
    }
    this.renewed();
  }

  #setState(next: 'owning' | 'lost'): void {
    this.#state = next;
  }
}
