import type { JobRecord, JobStatus } from '../model/job.ts';
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
