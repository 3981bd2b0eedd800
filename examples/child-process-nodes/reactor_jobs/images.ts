// A job file, loaded by `jobreactor node --jobs examples/child-process-nodes/reactor_jobs`.
// In an application this would import from 'job-reactor'. It must load the same copy of the
// library as the CLI that runs it, so that `job()` fills the registry the node reads.
import { setTimeout as sleep } from 'node:timers/promises';
import { job, jobCallback } from '../../../src/index.ts';

export const thumbnail = job(
  'images.thumbnail',
  async (args: { file: string; width: number }, ctx) => {
    await sleep(args.width, undefined, { signal: ctx.signal }); // pretend work: 1 ms per pixel
    return { thumb: `${args.file.replace(/\.\w+$/, '')}@${args.width}w.jpg` };
  },
);
jobCallback(thumbnail, 'stamp', (_args, ctx) => ({ node: ctx.node, pid: process.pid }));
