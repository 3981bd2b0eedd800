// Job files for the job-control example.
import { job } from '../../src/index.ts';

/** Records the order jobs start in. */
export const started: string[] = [];
export const tagged = job('tagged', (args: { tag: string }) => {
  started.push(args.tag);
});

/** Reports progress as it goes, and returns a string (it reaches the app as returnValue). */
export const resize = job('resize', async (args: { width: number }, ctx) => {
  for (const pct of [25, 50, 75, 100]) {
    await new Promise((r) => setTimeout(r, 30));
    ctx.progress(pct);
  }
  return `PNG ${args.width}x${args.width / 2}`;
});

/** Holds its slot until released, reporting where it is. */
let release: () => void = () => {};
export const releaseHold = () => release();
export const hold = job('hold', async (_args, ctx) => {
  ctx.progress({ stage: 'waiting for release' });
  await new Promise<void>((r) => (release = r));
});

/** A period job that counts its runs. */
export const tick = job('tick', (args: { n?: number }) => ({ n: (args.n ?? 0) + 1 }));

/** Start times of a rate-limited job. */
export const sendTimes: number[] = [];
export const send = job('emails.send', () => void sendTimes.push(Date.now()));
