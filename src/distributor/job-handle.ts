import type { JobArgs } from '../model/job.ts';
import type { ProgressValue } from '../protocol/progress.ts';
import type { TrackedJob } from './tracked-job.ts';

/** What a handle asks of its distributor (one object per distributor, shared by every handle). */
export interface HandleOps {
  cancel(job: TrackedJob): Promise<boolean>;
  onProgress(job: TrackedJob, listener: ProgressListener): void;
}

/** Hears a job's progress reports (`ctx.progress(value)` on the node). */
export type ProgressListener = (value: ProgressValue, job: { id: string; name: string }) => unknown;

/** What the application holds for an enqueued job. */
export interface JobHandle<A extends object = JobArgs> {
  /**
   * The caller's `id` (idempotency key), else one the distributor made: 22 characters of
   * `0-9 A-Z _ a-z ~` that sort in creation order (see `model/ids.ts`).
   */
  readonly id: string;
  /** Resolves when a node has stored the job (for a durable node: it now owns it). */
  readonly accepted: Promise<{ node: string }>;
  /** Resolves with the final args; rejects with JobFailedError, JobCancelledError or ShutdownError. */
  readonly result: Promise<A & JobArgs>;
  /** Cancels the job wherever it is. Resolves to whether something was cancelled. */
  cancel(): Promise<boolean>;
  /**
   * Calls `listener` with each progress value the job reports from now until it ends
   * (see the enqueue option `onProgress`). Returns the handle.
   */
  onProgress(listener: ProgressListener): this;
}

/** The application's handle: two fields, getters and `cancel` on the prototype (one per enqueue). */
class Handle implements JobHandle {
  readonly #job: TrackedJob;
  readonly #ops: HandleOps;

  constructor(job: TrackedJob, ops: HandleOps) {
    this.#job = job;
    this.#ops = ops;
  }

  get id(): string {
    return this.#job.spec.id;
  }

  get accepted(): Promise<{ node: string }> {
    return this.#job.accepted.promise;
  }

  get result(): Promise<JobArgs> {
    return this.#job.result.promise;
  }

  cancel(): Promise<boolean> {
    return this.#ops.cancel(this.#job);
  }

  onProgress(listener: ProgressListener): this {
    this.#ops.onProgress(this.#job, listener);
    return this;
  }
}

export function createHandle(job: TrackedJob, ops: HandleOps): JobHandle {
  return new Handle(job, ops);
}
