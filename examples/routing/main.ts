// Routing: node (soft), strictNode, notNode, per-node job names, the waiting queue.
// Run: npx tsx examples/routing/main.ts
import {
  JobFailedError,
  startDistributor,
  startNode,
  type EnqueueOptions,
  type WorkerNode,
} from '../../src/index.ts';
import { gpuJobs, render, where } from './jobs.ts';

const distributor = await startDistributor({ port: 0 });
const distributors = [distributor.address];

// Three nodes in this process, two jobs at a time each (so each grants 2 credits).
const nodes: WorkerNode[] = await Promise.all([
  startNode({ name: 'a', distributors, concurrency: 2 }),
  startNode({ name: 'b', distributors, concurrency: 2 }),
  startNode({ name: 'gpu', distributors, concurrency: 2, registry: gpuJobs }),
]);
while (distributor.nodes().length < 3) await new Promise((r) => setTimeout(r, 10));
for (const n of distributor.nodes())
  console.log(`node ${n.name}: capacity ${n.capacity}, jobs [${n.jobs.join(', ')}]`);

const show = (title: string, outcome: string) => console.log(`${title.padEnd(38)} → ${outcome}`);

/** Enqueues `count` jobs that each take 100 ms, and tallies where they ran. */
async function spread(title: string, options: EnqueueOptions, count = 6): Promise<void> {
  const handles = Array.from({ length: count }, () =>
    distributor.enqueue(where, { ms: 100 }, options),
  );
  const results = await Promise.all(handles.map((h) => h.result));
  const tally = new Map<string, number>();
  for (const r of results) tally.set(r.ranOn ?? '?', (tally.get(r.ranOn ?? '?') ?? 0) + 1);
  const text = [...tally]
    .sort()
    .map(([n, c]) => `${n}×${c}`)
    .join(' ');
  show(title, text);
}

await spread('3 jobs, no routing (most free credit)', {}, 3);
// Soft: b is preferred while it has a free slot; once its 2 slots are taken, the rest run elsewhere.
await spread("3 jobs, node: 'b' (soft)", { node: 'b' }, 3);
// Strict: only b; the jobs b has no room for wait in the distributor until it frees a slot.
await spread("6 jobs, node: 'b', strictNode: true", { node: 'b', strictNode: true });
await spread("6 jobs, node: ['a', 'gpu'], strict", { node: ['a', 'gpu'], strictNode: true });
await spread("6 jobs, notNode: 'a'", { notNode: 'a' });

// Only nodes that advertise a job name get it: `render` is defined on gpu alone.
const image = await distributor.enqueue(render, { scene: 'teapot' }).result;
show('render (defined on gpu only)', `${image.ranOn} made ${image.image}`);

// A name no connected node knows fails at once (unknownJobs: 'fail', the default).
const unknown = await distributor.enqueue('no.such.job', {}).result.catch((e: unknown) => e);
if (unknown instanceof JobFailedError) show("'no.such.job' (no node knows it)", unknown.error.code);

// A strict job for a node that is not connected waits in the distributor's waiting queue
// (bounded by maxWaiting) and leaves it the moment that node connects.
const late = distributor.enqueue(where, {}, { node: 'late', strictNode: true });
await new Promise((r) => setTimeout(r, 200));
show(
  "node: 'late', strict (not connected)",
  `waiting in the distributor: ${distributor.stats().waiting}`,
);
nodes.push(await startNode({ name: 'late', distributors }));
show("node 'late' connects", `ran on ${(await late.result).ranOn}`);

await Promise.all(nodes.map((n) => n.stop()));
await distributor.close();
