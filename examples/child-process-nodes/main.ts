// Worker nodes as child processes, the way production runs them:
//   node bin/jobreactor.js node --name worker_1 --distributor 127.0.0.1:PORT --jobs ./reactor_jobs
// Run: npx tsx examples/child-process-nodes/main.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startDistributor } from '../../src/index.ts';

const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));
const JOBS = fileURLToPath(new URL('./reactor_jobs/', import.meta.url));

// Nodes must prove they know this secret (HMAC challenge-response), and so must we.
const secret = randomBytes(32).toString('hex');
const distributor = await startDistributor({ host: '127.0.0.1', port: 0, secret });
const address = `127.0.0.1:${distributor.address.port}`;

function startWorker(name: string, workerSecret: string): ChildProcess {
  const args = ['node', '--name', name, '--distributor', address, '--jobs', JOBS];
  return spawn(process.execPath, [BIN, ...args, '--concurrency', '2', '--log-level', 'warn'], {
    // Every flag also has a JR_* variable. The secret goes in the environment (JR_SECRET) or
    // a file (--secret-file), never on the command line, where `ps` would show it.
    // JR_FROM_SOURCE: run the CLI from src/ (as these job files do), even if dist/ is built.
    env: { ...process.env, JR_SECRET: workerSecret, JR_FROM_SOURCE: '1' },
    stdio: ['ignore', 'inherit', 'ignore'],
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

// 1. A node with the wrong secret is refused during the handshake, before any job.
const intruder = startWorker('intruder', 'not-the-secret');
const refusal = await new Promise<string>((resolve) =>
  distributor.once('node:rejected', (_remote, error) => resolve(error.code)),
);
console.log(`node 'intruder' (wrong secret) refused: ${refusal}`);
intruder.kill('SIGTERM');

// 2. Two real worker processes.
const workers = new Map([
  ['worker_1', startWorker('worker_1', secret)],
  ['worker_2', startWorker('worker_2', secret)],
]);
await until(() => distributor.nodes().length === 2, 'both workers to connect');
for (const n of distributor.nodes())
  console.log(`${n.name} connected from ${n.remote}, jobs [${n.jobs.join(', ')}]`);

const files = Array.from({ length: 8 }, (_, i) => `photo-${i + 1}.png`);
const thumbs = await Promise.all(
  files.map((file) => distributor.enqueue('images.thumbnail', { file, width: 160 }).result),
);
const byNode = new Map<string, number>();
for (const t of thumbs) byNode.set(String(t.node), (byNode.get(String(t.node)) ?? 0) + 1);
console.log(
  `8 thumbnails made: ${[...byNode]
    .sort()
    .map(([n, c]) => `${n}×${c}`)
    .join(', ')}`,
);
console.log(`  e.g. ${JSON.stringify(thumbs[0])}`);

// 3. Graceful stop: on SIGTERM a node tells the distributor to send it nothing more (`drain`),
//    finishes the jobs it runs (up to --stop-timeout), delivers their feedbacks and exits 0.
//    The rest of the batch runs on worker_2.
let acceptedByW1 = 0;
distributor.on('job:accepted', (_id, node) => {
  if (node === 'worker_1') acceptedByW1++;
});
const batch = files.map(
  (file) => distributor.enqueue('images.thumbnail', { file, width: 400 }).result,
);
await until(() => acceptedByW1 >= 2, 'worker_1 to start two jobs'); // its concurrency is 2
workers.get('worker_1')?.kill('SIGTERM');
const code = await exited(workers.get('worker_1')!);
const done = await Promise.all(batch);
const onW1 = done.filter((t) => t.node === 'worker_1').length;
console.log(
  `worker_1 stopped on SIGTERM (exit code ${code}) after finishing ${onW1} running jobs;`,
);
console.log(`  all ${done.length} jobs of the batch completed (${done.length - onW1} on worker_2)`);

workers.get('worker_2')?.kill('SIGTERM');
console.log(
  `worker_2 exit code ${await exited(workers.get('worker_2')!)}, intruder exit code ${await exited(intruder)}`,
);
await distributor.close();
