// Job control: priorities, progress, return values, pause and resume, repeat limits, rate
// limits, lookups and counts, and strict options. Run: npx tsx examples/job-control/main.ts
import { startDistributor, startNode } from '../../src/index.ts';
import { hold, releaseHold, resize, send, sendTimes, started, tagged, tick } from './jobs.ts';

// At most 2 'emails.send' starts per 100 ms, over every node of this distributor.
const distributor = await startDistributor({
  port: 0,
  limits: { 'emails.send': { max: 2, duration: 100 } },
});
const node = await startNode({
  name: 'worker_1',
  distributors: [distributor.address],
  concurrency: 1,
});

// 1. Pause and resume, and priorities: while the node is paused, nothing starts; on resume
//    the jobs that waited start by priority (1 is the highest), ties in enqueue order.
await node.pause();
const byPriority = [3, 1, 2, 3, 1, 2].map((priority, i) =>
  distributor.enqueue(tagged, { tag: `p${priority}#${i}` }, { priority }),
);
await new Promise((r) => setTimeout(r, 100));
console.log(`while paused: ${started.length} started`);
await node.resume();
await Promise.all(byPriority.map((h) => h.result));
console.log(`after resume, in priority order: ${started.join(' ')}`);

// 2. Progress and return values.
const resized = distributor
  .enqueue(resize, { width: 320 })
  .onProgress((value) => console.log(`resize progress: ${JSON.stringify(value)}`));
const { returnValue } = await resized.result;
console.log(`resize returned: ${JSON.stringify(returnValue)}`);

// 3. Lookups and counts: where a job is and how it stands, from the node that holds it.
const held = distributor.enqueue(hold, {});
const later = distributor.enqueue(tick, {}, { after: '1h' });
await later.accepted;
await new Promise((r) => setTimeout(r, 50));
const info = await distributor.getJob(held.id);
console.log(
  `getJob: state=${info?.state} node=${info?.node} progress=${JSON.stringify(info?.progress)}`,
);
const counts = await distributor.counts();
console.log(`counts on worker_1: ${JSON.stringify(counts.nodes.worker_1)}`);
releaseHold();
await held.result;
await later.cancel();

// 4. Repeat limits: a period job that runs 3 times; its last success says it was the last.
const ticking = distributor.enqueue(tick, {}, { period: '20ms', limit: 3 }, (args, fb) => {
  if (fb.final) console.log(`tick ran ${fb.runs} times (n=${String(args.n)}), final: ${fb.final}`);
});
await ticking.result;

// 5. Rate limits: 6 sends at 2 per 100 ms need two more windows after the first.
const sentAt = Date.now();
await Promise.all(Array.from({ length: 6 }, () => distributor.enqueue(send).result));
const span = Math.max(...sendTimes) - sentAt; // the last start's permit is ≥ 200 ms later
console.log(`emails.send: ${sendTimes.length} starts, spread over 200 ms or more: ${span >= 199}`);

// 6. Strict options: a BullMQ name is a typed error that says what to use.
try {
  distributor.enqueue(tagged, { tag: 'x' }, { delay: 2000 } as never);
} catch (err) {
  console.log(`${(err as { code: string }).code}: ${(err as Error).message}`);
}

await node.stop();
await distributor.close();
