import { JobStatus, type JobRecord } from '../model/job.ts';
import type { Logger } from '../model/logger.ts';
import type { JobStorage } from '../storage/job-storage.ts';

/**
 * At start, hands every live job a durable storage holds (new, in progress, queued, error)
 * to `schedule`, due when it was due. A job that was running when the node died is past
 * due, so it runs again at once (at-least-once), and with the due time of the run that
 * was cut short: a periodic job stays on its grid.
 */
export async function resumeStoredJobs(
  storage: JobStorage,
  schedule: (record: JobRecord) => void,
  log: Logger,
): Promise<void> {
  const live = await storage.list({
    status: [JobStatus.New, JobStatus.InProgress, JobStatus.Queued, JobStatus.Error],
  });
  for (const record of live) schedule(record);
  log.info({ resumed: live.length }, 'resumed stored jobs');
}
