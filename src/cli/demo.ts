import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDistributor, type Distributor, type JobArgs, type JobHandle } from '../index.ts';

interface Check {
  title: string;
  ok: boolean;
  detail: string;
}

const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));
const JOBS = fileURLToPath(new URL('./demo-jobs/', import.meta.url));

function spawnNode(name: string, address: string, storage: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'node',
      '--name',
      name,
      '--distributor',
      address,
      '--jobs',
      JOBS,
      '--concurrency',
      '4',
      '--storage',
      storage,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return child;
}

function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

async function settle<A extends object = JobArgs>(handles: JobHandle<A>[]) {
  return Promise.allSettled(handles.map((h) => h.result));
}

/**
 * The tour: instant jobs spread over two nodes, a callbacks chain whose args come back,
 * a failing job and its error feedback, node/notNode routing, an unknown job, and a node
 * killed mid-run: with memory storage its jobs finish on the other node; with a durable
 * one (`lmdb:<dir>`, a Redis URL) the node is started again and resumes them from its
 * storage. Returns the exit code.
 */
export async function runDemo(options: {
  quiet: boolean;
  storage?: string;
  /** Serve the dashboard (loopback, a free port), print its address, and keep running after the tour until SIGINT/SIGTERM. */
  dashboard?: boolean;
}): Promise<number> {
  const storage = options.storage ?? 'memory';
  const durable = storage !== 'memory';
  const started = Date.now();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const d: Distributor = await startDistributor({
    host: '127.0.0.1',
    port: 0,
    ...(options.dashboard === true ? { http: { host: '127.0.0.1', port: 0 } } : {}),
  });
  const address = `${d.address.host}:${d.address.port}`;
  const counts = { dispatched: 0, accepted: 0, success: 0, error: 0, requeued: 0 };
  d.on('job:dispatched', () => counts.dispatched++);
  d.on('job:accepted', () => counts.accepted++);
  d.on('job:requeued', () => counts.requeued++);
  d.on('feedback', (fb) => (fb.outcome === 'error' ? counts.error++ : counts.success++));
  const live = process.stdout.isTTY && !options.quiet;
  const progress = live
    ? setInterval(() => {
        const nodes = d
          .nodes()
          .map((n) => `${n.name}(${n.capacity - n.credit} busy)`)
          .join(' ');
        process.stdout.write(
          `\r  … sent ${counts.dispatched}  accepted ${counts.accepted}  ok ${counts.success}  failed ${counts.error}  moved ${counts.requeued}  nodes: ${nodes}   `,
        );
      }, 150)
    : undefined;
  const clearLine = () => live && process.stdout.write('\r\x1b[K');

  out(
    `job-reactor demo — distributor on ${address}, starting worker_1 and worker_2 as child processes (storage: ${storage})`,
  );
  const web = d.httpAddress;
  if (web !== undefined) out(`  dashboard: http://${web.host}:${web.port}/`);
  const children = new Map<string, ChildProcess>([
    ['worker_1', spawnNode('worker_1', address, storage)],
    ['worker_2', spawnNode('worker_2', address, storage)],
  ]);
  const checks: Check[] = [];
  const check = (title: string, ok: boolean, detail: string) => {
    clearLine();
    checks.push({ title, ok, detail });
    out(`${ok ? '✔' : '✘'} ${title}: ${detail}`);
  };
  try {
    await waitFor(() => d.nodes().length === 2, 30_000, 'both nodes to connect');
    out(
      `  nodes connected: ${d
        .nodes()
        .map((n) => n.name)
        .join(', ')}`,
    );

    // 1. Instant jobs, spread by credit over both nodes.
    const squares = Array.from({ length: 40 }, (_, n) => d.enqueue('demo.square', { n }));
    const r1 = await settle(squares);
    const byNode = new Map<string, number>();
    let sum = 0;
    for (const r of r1) {
      if (r.status !== 'fulfilled') continue;
      sum += r.value.square as number;
      byNode.set(r.value.node as string, (byNode.get(r.value.node as string) ?? 0) + 1);
    }
    const spread = [...byNode].map(([n, c]) => `${n}=${c}`).join(' ');
    check(
      '40 instant jobs',
      sum === 20540 && byNode.size === 2,
      `sum of squares ${sum}, ran on ${spread}`,
    );

    // 2. A callbacks chain: args added by the job and each callback come back in the feedback.
    const receipt = await new Promise<JobArgs>((resolve, reject) => {
      d.enqueue(
        'demo.order',
        { items: [120, 80] },
        {},
        (args) => resolve(args),
        (_a, e) => reject(new Error(e.message)),
      );
    });
    check(
      'callbacks chain',
      receipt.subtotal === 200 && receipt.tax === 40 && typeof receipt.receipt === 'string',
      `feedback args ${JSON.stringify({ subtotal: receipt.subtotal, tax: receipt.tax, receipt: receipt.receipt })}`,
    );

    // 3. A failing job: retried maxAttempt times, then one error feedback (errbacks ran).
    const failure = await new Promise<{ args: JobArgs; code: string; attempt: number }>(
      (resolve) => {
        d.enqueue(
          'demo.flaky',
          {},
          { maxAttempt: 3, retryMultiplier: 0.1 },
          () => resolve({ args: {}, code: 'unexpected success', attempt: 0 }),
          (args, error, info) => resolve({ args, code: error.code, attempt: info.attempt }),
        );
      },
    );
    check(
      'failing job',
      failure.attempt === 3 && typeof failure.args.reported === 'string',
      `error feedback after ${failure.attempt} attempts (${failure.code}); ${String(failure.args.reported)} (the WARN line above is the node's log of this failure, as in production)`,
    );

    // 4. Routing: strict `node` and `notNode`.
    const pinned = await settle(
      Array.from({ length: 6 }, () =>
        d.enqueue('demo.where', {}, { node: 'worker_2', strictNode: true }),
      ),
    );
    const avoided = await settle(
      Array.from({ length: 6 }, () => d.enqueue('demo.where', {}, { notNode: 'worker_2' })),
    );
    const where = (rs: PromiseSettledResult<JobArgs>[]) =>
      rs.map((r) => (r.status === 'fulfilled' ? (r.value.node as string) : 'failed'));
    check(
      'node / notNode routing',
      where(pinned).every((n) => n === 'worker_2') && where(avoided).every((n) => n === 'worker_1'),
      `node: worker_2 → ${[...new Set(where(pinned))].join(',')}; notNode: worker_2 → ${[...new Set(where(avoided))].join(',')}`,
    );

    // 5. A job nobody defined: a typed error, not a crash.
    const unknown = await d.enqueue('demo.nope', {}).result.then(
      () => 'resolved?!',
      (err: { error?: { code: string } }) => err.error?.code ?? 'no code',
    );
    check('unknown job name', unknown === 'JR_ERR_UNKNOWN_JOB', `rejected with ${unknown}`);

    // 6. A node killed (SIGKILL) while it runs jobs. Memory storage: they finish on the
    //    other node. Durable storage: the node owns them; started again, it resumes them.
    const slow = Array.from({ length: 8 }, () =>
      // Durable: all on worker_1 (strictNode), to show its storage gives them all back.
      d.enqueue('demo.slow', { ms: 600 }, { node: 'worker_1', strictNode: durable }),
    );
    if (durable) {
      await Promise.all(slow.map((h) => h.accepted));
    } else {
      await waitFor(
        () => (d.nodes().find((n) => n.name === 'worker_1')?.held ?? 0) >= 4,
        10_000,
        'worker_1 to take jobs',
      );
    }
    const held = durable ? slow.length : (d.nodes().find((n) => n.name === 'worker_1')?.held ?? 0);
    const killed = children.get('worker_1');
    killed?.kill('SIGKILL');
    if (durable) {
      await new Promise((r) => killed?.once('exit', r));
      out(`  worker_1 killed holding ${held} stored jobs; starting it again on its storage`);
      children.set('worker_1', spawnNode('worker_1', address, storage));
    }
    const r6 = await settle(slow);
    const finished = r6.filter((r) => r.status === 'fulfilled').length;
    const on = (name: string) =>
      r6.filter((r) => r.status === 'fulfilled' && r.value.node === name).length;
    if (durable) {
      check(
        'node killed mid-run, restarted',
        finished === 8 && on('worker_1') === 8,
        `worker_1 killed holding ${held} jobs; after its restart ${finished}/8 finished, ${on('worker_1')} resumed by worker_1 from its storage, lost ${8 - finished}`,
      );
    } else {
      check(
        'node killed mid-run',
        finished === 8 && on('worker_2') >= held,
        `worker_1 killed holding ${held} jobs; ${finished}/8 finished, ${on('worker_2')} on worker_2, lost ${8 - finished}`,
      );
    }
    if (web !== undefined) {
      clearLine();
      out(
        `  the tour is over; the dashboard stays at http://${web.host}:${web.port}/ until Ctrl-C`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } catch (err) {
    check('demo', false, err instanceof Error ? err.message : String(err));
  } finally {
    if (progress) clearInterval(progress);
    clearLine();
    for (const child of children.values())
      if (child.exitCode === null && !child.killed) child.kill('SIGTERM');
    await d.close({ timeout: 1000 });
  }
  const failed = checks.filter((c) => !c.ok);
  out('');
  out(
    `summary: ${checks.length - failed.length}/${checks.length} scenarios passed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  out(
    `  jobs sent ${counts.dispatched}, accepted ${counts.accepted}, success feedbacks ${counts.success}, error feedbacks ${counts.error}, moved after a node loss ${counts.requeued}`,
  );
  return failed.length === 0 ? 0 : 1;
}
