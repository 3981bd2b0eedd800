// Scheduling: a fixed-rate periodic job that cancels itself, delayed jobs (after, runAt),
// and a cron job cancelled by the application. Run: npx tsx examples/periodic/main.ts
import { JobCancelledError, startDistributor, startNode } from '../../src/index.ts';
import { heartbeat, reminder, sweep } from './jobs.ts';

const t0 = Date.now();
const at = (ms: number = Date.now()) => `+${String(ms - t0).padStart(4)} ms`;

const distributor = await startDistributor({ port: 0 });
const node = await startNode({ name: 'worker_1', distributors: [distributor.address] });

// 1. Every 0.4 s (fixed rate: slots at runAt + k × period). onSuccess runs after every run;
//    `info.final` is true for the last one. The third run calls ctx.cancel().
const periodic = distributor.enqueue(heartbeat, {}, { period: 0.4 }, (args, info) => {
  console.log(
    `${at()} heartbeat run ${args.runs}${info.final ? ' (cancelled itself: final)' : ''}`,
  );
});

// 2. Delayed one-shot jobs: `after` in seconds (fractions are honoured) or a string with a
//    unit; `runAt` a Date or epoch ms. Each runs once, on the node's timer.
const onRan = (r: { text: string; dueAt?: number; startedAt?: number }) => {
  console.log(`${at(r.startedAt)} reminder "${r.text}" ran (due ${at(r.dueAt)})`);
};
const later = [
  distributor.enqueue(reminder, { text: "after: '600ms'" }, { after: '600ms' }, onRan),
  distributor.enqueue(reminder, { text: 'runAt: t0 + 1 s' }, { runAt: new Date(t0 + 1000) }, onRan),
  distributor.enqueue(reminder, { text: 'after: 1.5' }, { after: 1.5 }, onRan),
];

// 3. A cron job (6 fields: seconds first), every second, until the application cancels it.
const cron = distributor.enqueue(sweep, {}, { cron: '* * * * * *' }, (args) => {
  console.log(`${at()} cron sweep ${args.sweeps}`);
});

const final = await periodic.result; // resolves after the final run, with the final args
console.log(`${at()} heartbeat result: ${JSON.stringify(final)}`);
await Promise.all(later.map((h) => h.result));
const cancelled = await cron.cancel(); // aborts ctx.signal if running; no more runs
console.log(`${at()} cron job cancelled by the application: ${cancelled}`);
const outcome = await cron.result.catch((e: unknown) => e);
console.log(
  `${at()} cron result rejected: ${outcome instanceof JobCancelledError ? outcome.code : '?'}`,
);

await node.stop();
await distributor.close();
