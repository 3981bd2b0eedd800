import { ClosedError, InvalidArgumentError, StorageError } from '../../errors.ts';
import type { Clock } from '../../model/clock.ts';
import type { JobRecord } from '../../model/job.ts';
import type { JobStorage } from '../../storage/job-storage.ts';
import { retriedRecord } from '../../storage/storage-monitor.ts';

/** What a retry needs of its node. */
export interface RetryHost {
  name: string;
  clock: Clock;
  storage: JobStorage;
  /** True while the node runs jobs (not starting, stopping or stopped). */
  running(): boolean;
  /** True when job `id` is running or waiting for a slot here. */
  busy(id: string): boolean;
  /** The job is no longer a kept finished job. */
  unkeep(id: string): void;
  /** Runs the job when due (now). */
  schedule(record: JobRecord): void;
}

/**
 * A distributor's retry of one of its failed kept jobs (the admin API's Retry): the record
 * goes back to a pending retry due now with its attempt count reset (as `RedisMonitor.retry`
 * does offline), is saved, leaves the kept index, and is scheduled. Concurrent retries of
 * one id run once: the second is refused while the first is being written.
 */
export class KeptRetry {
  readonly #host: RetryHost;
  readonly #writing = new Set<string>();

  constructor(host: RetryHost) {
    this.#host = host;
  }

  async retry(id: string, distributorId: string): Promise<void> {
    const host = this.#host;
    if (!host.running()) throw new ClosedError(`node ${host.name} is not running`);
    if (this.#writing.has(id) || host.busy(id)) {
      throw new InvalidArgumentError(`job ${id} on node ${host.name} is being run already`);
    }
    this.#writing.add(id);
    try {
      let record: JobRecord | undefined;
      try {
        record = await host.storage.load(id);
      } catch (err) {
        throw new StorageError(`could not load job ${id} on node ${host.name}`, { cause: err });
      }
      // Another distributor's jobs are not this one's to touch: it reads as not here.
      if (record === undefined || record.distributor !== distributorId) {
        throw new InvalidArgumentError(`no job ${id} on node ${host.name}`);
      }
      const next = retriedRecord(record, host.clock.now());
      try {
        await host.storage.save(next);
      } catch (err) {
        throw new StorageError(`could not save job ${id} on node ${host.name}`, { cause: err });
      }
      host.unkeep(id);
      host.schedule(next);
    } finally {
      this.#writing.delete(id);
    }
  }
}
