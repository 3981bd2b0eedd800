// Job files for the routing example.
import { setTimeout as sleep } from 'node:timers/promises';
import { JobRegistry, job, type JobContext } from '../../src/index.ts';

export type Where = {
  /** How long the job keeps its node busy, ms. */
  ms?: number;
  ranOn?: string;
};

async function reportNode(args: Where, ctx: JobContext) {
  await sleep(args.ms ?? 0, undefined, { signal: ctx.signal });
  return { ranOn: ctx.node };
}

/** Defined in the default registry: nodes started without a `registry` can run it. */
export const where = job('where', reportNode);

/**
 * A node can be given its own registry. The node `gpu` below uses this one: it can run
 * `where` and `render`, and no other node can run `render`.
 */
export const gpuJobs = new JobRegistry();
gpuJobs.define('where', reportNode);
export const render = gpuJobs.define(
  'render',
  (args: { scene: string; image?: string; ranOn?: string }, ctx) => ({
    image: `${args.scene}.png`,
    ranOn: ctx.node,
  }),
);
