import { InvalidArgumentError } from '../errors.ts';
import { JobStatus, type JobRecord } from '../model/job.ts';
import type { MonitoredNode } from './redis-monitor.ts';

/**
 * What a monitor of stored jobs offers, whichever storage keeps them (RedisMonitor,
 * LmdbMonitor): the `jobreactor jobs` CLI works with either through this.
 */
export interface StorageMonitor {
  nodes(): Promise<MonitoredNode[]>;
  jobs(node: string, filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]>;
  load(node: string, id: string): Promise<JobRecord | undefined>;
  retry(node: string, id: string): Promise<JobRecord>;
  remove(node: string, id: string): Promise<boolean>;
  removeAll(node: string): Promise<{ jobs: number; feedbacks: number }>;
  close(): Promise<void>;
}

/**
 * What `retry` writes for a stored job (both monitors): a `failed` job back to `error`,
 * attempt 0, due `now`, `lastError` kept and `failedAt` dropped. InvalidArgumentError for a
 * job in any other status.
 */
export function retriedRecord(record: JobRecord, now: number): JobRecord {
  if (record.status !== JobStatus.Failed) {
    throw new InvalidArgumentError(
      `job ${record.id} on node ${record.node} is '${record.status}': only failed jobs can be retried`,
    );
  }
  const { failedAt: _failedAt, ...rest } = record;
  return { ...rest, status: JobStatus.Error, attempt: 0, dueAt: now, updatedAt: now };
}
