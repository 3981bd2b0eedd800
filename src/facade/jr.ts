import { Distributor, type DistributorOptions, type JobName } from '../distributor/distributor.ts';
import type { EnqueueOptions } from '../distributor/enqueue-options.ts';
import type { JobHandle } from '../distributor/job-handle.ts';
import type { ErrorFeedback, SuccessFeedback } from '../distributor/tracked-job.ts';
import { ClosedError } from '../errors.ts';
import type { JobArgs } from '../model/job.ts';
import type { NodeOptions } from '../node/node-options.ts';
import { WorkerNode } from '../node/worker-node.ts';

/** JobReactor's configuration keys, camelCased, with the original's defaults. */
export interface JRConfig {
  /** @default 'reactor_jobs' */
  jobDirectory: string;
  /** @default 10 */
  maxAttempt: number;
  /** @default 5 */
  retryMultiplier: number;
  /** @default true */
  retryJobsAtStart: boolean;
  /** @default false */
  mergeJobItselfToArgs: boolean;
  /** Every job waits for its `node` (per-job `strictNode`). @default false */
  alwaysUseSpecifiedNode: boolean;
  /** @default true */
  removeDoneJobs: boolean;
  /** @default true */
  removeCancelledJobs: boolean;
  /** @default false */
  removeFailedJobs: boolean;
  /** @default 'redis://127.0.0.1:6379' */
  redisUrl: string;
  /** Shared secret for every link. @default undefined */
  secret: string | undefined;
}

const defaults = (): JRConfig => ({
  jobDirectory: 'reactor_jobs',
  maxAttempt: 10,
  retryMultiplier: 5,
  retryJobsAtStart: true,
  mergeJobItselfToArgs: false,
  alwaysUseSpecifiedNode: false,
  removeDoneJobs: true,
  removeCancelledJobs: true,
  removeFailedJobs: false,
  redisUrl: 'redis://127.0.0.1:6379',
  secret: undefined,
});

/**
 * JobReactor's module-style API (`JR.config`, `JR.startDistributor`, `JR.enqueue`, `JR.run`)
 * as a thin layer over Distributor and WorkerNode. The one documented process-wide
 * singleton; nothing in the library depends on it.
 */
class JobReactorFacade {
  config: JRConfig = defaults();
  #distributor: Distributor | undefined;
  #ready: Promise<Distributor> | undefined;
  readonly #nodes: WorkerNode[] = [];

  /** Starts the process's distributor. */
  startDistributor(
    host = '127.0.0.1',
    port = 5000,
    options: DistributorOptions = {},
  ): Promise<Distributor> {
    if (this.#ready) return this.#ready;
    const d = new Distributor({
      host,
      port,
      ...(this.config.secret !== undefined ? { secret: this.config.secret } : {}),
      ...options,
    });
    this.#ready = d.listen().then(() => (this.#distributor = d));
    return this.#ready;
  }

  /** Resolves once the distributor listens (JobReactor's `JR.ready?` loop, as a promise). */
  ready(): Promise<Distributor> {
    if (!this.#ready)
      return Promise.reject(new ClosedError('JR.startDistributor() was not called'));
    return this.#ready;
  }

  get distributor(): Distributor | undefined {
    return this.#distributor;
  }

  enqueue<A extends object = JobArgs>(
    job: JobName<A>,
    args?: A,
    options: EnqueueOptions = {},
    onSuccess?: SuccessFeedback<A>,
    onError?: ErrorFeedback<A>,
  ): JobHandle<A> {
    if (!this.#distributor)
      throw new ClosedError('JR.startDistributor() has not finished (await JR.ready())');
    const opts =
      this.config.alwaysUseSpecifiedNode &&
      options.node !== undefined &&
      options.strictNode === undefined
        ? { ...options, strictNode: true }
        : options;
    return this.#distributor.enqueue(job, args, opts, onSuccess, onError);
  }

  /**
   * Starts a worker node with the config's defaults. `storage: 'redis'` means the
   * config's `redisUrl`.
   */
  async run(
    options: Omit<NodeOptions, 'jobDirectory'> & { jobDirectory?: string },
  ): Promise<WorkerNode> {
    const c = this.config;
    // A registry built in code replaces the job directory, as in tests and embedding.
    const useDirectory = options.registry === undefined || options.jobDirectory !== undefined;
    const node = new WorkerNode({
      ...(useDirectory ? { jobDirectory: c.jobDirectory } : {}),
      maxAttempt: c.maxAttempt,
      retryMultiplier: c.retryMultiplier,
      retryJobsAtStart: c.retryJobsAtStart,
      mergeJobItselfToArgs: c.mergeJobItselfToArgs,
      removeDoneJobs: c.removeDoneJobs,
      removeCancelledJobs: c.removeCancelledJobs,
      removeFailedJobs: c.removeFailedJobs,
      ...(c.secret !== undefined ? { secret: c.secret } : {}),
      ...options,
      ...(options.storage === 'redis' ? { storage: c.redisUrl } : {}),
    });
    this.#nodes.push(node);
    return node.start();
  }

  /** Stops every node started with `run` and the distributor, and resets the config. */
  async shutdown(): Promise<void> {
    await Promise.all(this.#nodes.splice(0).map((n) => n.stop()));
    await this.#distributor?.close();
    this.#distributor = undefined;
    this.#ready = undefined;
    this.config = defaults();
  }
}

export const JR = new JobReactorFacade();
