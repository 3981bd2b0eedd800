// Job files for the scheduling example.
import { job } from '../../src/index.ts';

/** A periodic job that stops itself on its third run. */
export const heartbeat = job('heartbeat', (args: { runs?: number }, ctx) => {
  args.runs = (args.runs ?? 0) + 1; // a periodic job's args carry over to its next run
  if (args.runs === 3) ctx.cancel('three runs are enough'); // stops it for good (throws CancelJob)
});

/** A one-shot job: reports when it was due and when it started. */
export const reminder = job(
  'reminder',
  (args: { text: string; dueAt?: number; startedAt?: number }, ctx) => ({
    dueAt: ctx.runAt.getTime(),
    startedAt: ctx.startedAt.getTime(),
  }),
);

/** Run by a cron expression until the application cancels it. */
export const sweep = job('sweep', (args: { sweeps?: number }) => {
  args.sweeps = (args.sweeps ?? 0) + 1;
});
