/**
 * job-reactor: distributed background jobs for Node.js.
 *
 * Application side: `startDistributor()` and `enqueue()`. Worker side: `job()`,
 * `jobCallback()`, `jobErrback()` in job files, and `startNode()`.
 */
export {
  Distributor,
  startDistributor,
  type DistributorOptions,
  type JobName,
} from './distributor/distributor.ts';
export type { EnqueueOptions } from './distributor/enqueue-options.ts';
export type { DistributorEvents } from './distributor/events.ts';
export type { NodeInfo } from './distributor/node-session.ts';
export type { ErrorFeedback, FeedbackInfo, SuccessFeedback } from './distributor/tracked-job.ts';
export type { JobHandle } from './distributor/job-handle.ts';
export type { JobCounts, JobInfo, JobListFilter, JobPage } from './distributor/job-queries.ts';
export type { AdminHandler, AdminHandlerOptions } from './admin/admin-handler.ts';
export type { AdminHttpOptions } from './admin/admin-server.ts';
export type { MetricsRegistry } from './metrics/registry.ts';

export { WorkerNode, startNode } from './node/worker-node.ts';
export type { NodeOptions, DistributorAddress } from './node/node-options.ts';
export type { NodeEvents } from './node/node-events.ts';
export {
  JobRegistry,
  defaultRegistry,
  job,
  jobRef,
  jobCallback,
  jobErrback,
  type JobRef,
  type JobHandler,
  type ChainStep,
  type JobDefinitionOptions,
} from './node/definitions/job-registry.ts';
export type { JobContext } from './node/running/job-context.ts';
export { loadJobDirectory } from './node/definitions/job-loader.ts';

export type { JobStorage } from './storage/job-storage.ts';
export { MemoryStorage } from './storage/memory-storage.ts';

export {
  JobStatus,
  type JobArgs,
  type JobRecord,
  type JobSpec,
  type Feedback,
  type BackoffSpec,
} from './model/job.ts';
export type { Clock } from './model/clock.ts';
export type { Logger } from './model/logger.ts';
export { PROTOCOL_VERSION } from './protocol/messages.ts';
export type { TlsOptions, PemInput } from './transport/tls-options.ts';

export * from './errors.ts';
export { JR, type JRConfig } from './facade/jr.ts';

export { RedisStorage, type RedisStorageOptions } from './storage/redis-storage.ts';
export {
  RedisMonitor,
  type RedisMonitorOptions,
  type MonitoredNode,
} from './storage/redis-monitor.ts';
export {
  LmdbStorage,
  LMDB_STORAGE_DEFAULTS,
  type LmdbStorageOptions,
  type LmdbSync,
} from './storage/lmdb-storage.ts';
export { LmdbMonitor, type LmdbMonitorOptions } from './storage/lmdb-monitor.ts';
export type { StorageMonitor } from './storage/storage-monitor.ts';
export {
  createStorage,
  type CreateStorageOptions,
  type StorageSpec,
} from './storage/create-storage.ts';
