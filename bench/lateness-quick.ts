// First timer-lateness figure (issue 3): 10,000 jobs due uniformly over 10 s on one node
// in a child process; lateness = job start − due time, measured on the node.
import { fileURLToPath } from 'node:url';
import { startDistributor } from '../src/index.ts';
import { spawnNode } from '../test/helpers/node-process.ts';

const N = Number(process.env.N ?? 10_000);
const SPREAD = Number(process.env.SPREAD_MS ?? 10_000);
const jobs = fileURLToPath(new URL('../test/fixtures/integration-jobs/', import.meta.url));
const d = await startDistributor({ port: 0, maxWaiting: N + 1 });
const node = spawnNode({
  name: 'bench',
  distributors: [`127.0.0.1:${d.address.port}`],
  jobs,
  concurrency: 256,
});
while (d.nodes().length === 0) await new Promise((r) => setTimeout(r, 20));
const start = Date.now() + 2000;
const late: number[] = [];
let early = 0;
const handles = [];
for (let i = 0; i < N; i++) {
  const runAt = start + Math.floor((i * SPREAD) / N);
  handles.push(
    d.enqueue('it.when', {}, { runAt }, (a) => {
      const l = (a.startedAt as number) - runAt;
      if (l < 0) early++;
      late.push(l);
    }),
  );
}
await Promise.all(handles.map((h) => h.result));
late.sort((a, b) => a - b);
const q = (p: number) => late[Math.min(late.length - 1, Math.floor(p * late.length))];
console.log(
  JSON.stringify({ jobs: N, spreadMs: SPREAD, p50: q(0.5), p99: q(0.99), max: late.at(-1), early }),
);
node.kill('SIGKILL');
await d.close({ timeout: 100 });
process.exit(0);
