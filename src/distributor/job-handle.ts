import type { JobArgs } from '../model/job.ts';
import type { TrackedJob } from './tracked-job.ts';

/** What the application holds for an enqueued job. */
export interface JobHandle<A extends JobArgs = JobArgs> {
  readonly id: string;
  /** Resolves when a node has stored the job (for a durable node: it now owns it). */
  readonly accepted: Promise<{ node: string }>;
  /** Resolves with the final args; rejects with JobFailedError, JobCancelledError or ShutdownError. */
  readonly result: Promise<A & JobArgs>;
  /** Cancels the job wherever it is. Resolves to whether something was cancelled. */
  cancel(): Promise<boolean>;
}

/** The application's handle: two fields, getters and `cancel` on the prototype (one per enqueue). */
class Handle implements JobHandle {
  readonly #job: TrackedJob;
  readonly #cancel: (job: TrackedJob) => Promise<boolean>;

  constructor(job: TrackedJob, cancel: (job: TrackedJob) => Promise<boolean>) {
    this.#job = job;
    this.#cancel = cancel;
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
    return this.#cancel(this.#job);
  }
}

export function createHandle(
  job: TrackedJob,
  cancel: (job: TrackedJob) => Promise<boolean>,
): JobHandle {
  return new Handle(job, cancel);
}
