import { JobStatus, recordCrash, type JobRecord } from '../../model/job.ts';
import type { Logger } from '../../model/logger.ts';
import type { JobStorage } from '../../storage/job-storage.ts';

/**
 * At start, hands every live job a durable storage holds (new, in progress, queued, error)
 * to `take`, due when it was due. A job that was running when the node died is past due,
 * so it runs again at once (at-least-once), and with the due time of the run that was cut
 * short: a periodic job stays on its grid. Such a job also counts a crash of `node`
 * (`crashes + 1`, saved before it is handed over) so that one which keeps killing its
 * node is quarantined after `maxDeliveries` (the caller decides, in `take`).
 */
const LIVE: ReadonlySet<JobStatus> = new Set([
  JobStatus.New,
  JobStatus.InProgress,
  JobStatus.Queued,
  JobStatus.Error,
]);

export async function resumeStoredJobs(
  storage: JobStorage,
  take: (record: JobRecord) => void,
  log: Logger,
  node: string,
  kept: (record: JobRecord) => void = () => {},
): Promise<void> {
  // One listing for both: the live jobs to resume, the finished ones kept (retention index).
  const live: JobRecord[] = [];
  for (const record of await storage.list()) {
    if (LIVE.has(record.status)) live.push(record);
    else kept(record);
  }
  let crashed = 0;
  for (const record of live) {
    if (record.status !== JobStatus.InProgress) continue;
    recordCrash(record, node);
    crashed++;
  }
  if (crashed > 0) {
    await Promise.all(
      live.filter((r) => r.status === JobStatus.InProgress).map((r) => storage.save(r)),
    );
  }
  for (const record of live) take(record);
  log.info({ resumed: live.length, crashed }, 'resumed stored jobs');
}
