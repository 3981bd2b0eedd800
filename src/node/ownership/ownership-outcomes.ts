import { PoisonJobError, StorageLostError } from '../../errors.ts';
import { feedbackKeyBase, type Feedback, type JobRecord } from '../../model/job.ts';
import type { AttemptOutcome } from '../running/job-runner.ts';

/**
 * What a durable node does with a job it can no longer simply run (pure helpers, so the
 * rules are unit-tested without a node): one that took nodes down with it too often, and
 * one its storage lost.
 */

/**
 * The outcome that ends `record` for good when nodes died while running it
 * `maxDeliveries` times or more (`crashes`): a final PoisonJobError naming those nodes,
 * with the args it would have started from. Undefined when it may run again.
 */
export function quarantineOutcome(
  record: JobRecord,
  maxDeliveries: number,
): AttemptOutcome | undefined {
  const crashes = record.crashes ?? 0;
  if (crashes < maxDeliveries) return undefined;
  const nodes = record.crashedOn ?? [];
  const error = new PoisonJobError(
    `job ${record.name} (${record.id}) was running when its node died ${crashes} times ` +
      `(on ${nodes.length > 0 ? nodes.join(', ') : 'unknown nodes'}; maxDeliveries ${maxDeliveries}): ` +
      'quarantined, not run again',
  ).toInfo();
  return { kind: 'error', args: { ...record.args, error }, error, unrecoverable: true };
}

/** What a durable node keeps in memory about a job to end it without its record. */
export interface KnownJob {
  id: string;
  distributor: string;
  nonce?: string;
}

/** The final error feedback for a job whose stored record the storage lost. */
export function storageLostFeedback(job: KnownJob, node: string): Feedback {
  const error = new StorageLostError(
    `the storage of node ${node} lost job ${job.id} (Redis restarted empty or was flushed): it will not run`,
  ).toInfo();
  return {
    key: feedbackKeyBase(job),
    jobId: job.id,
    distributor: job.distributor,
    node,
    outcome: 'error',
    final: true,
    args: { error },
    error,
    attempt: 0,
  };
}
