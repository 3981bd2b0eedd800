// Model-based fault test (reliability plan R11, over real parts): fast-check draws
// sequences of enqueues, link cuts, link freezes, node restarts and pauses against one
// distributor and three nodes (two memory, one LMDB) joined through TCP relays, then heals
// everything and checks the invariants every sequence must keep: every handle settles, each
// job's outcome is the one its kind calls for, no feedback arrives twice, nothing stays
// tracked. A failing sequence is shrunk and printed as the commands that break it.
//
// JR_MODEL_RUNS=<n> runs more sequences (the default keeps the suite's time in check).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  JobCancelledError,
  JobFailedError,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type JobArgs,
  type WorkerNode,
} from '../../src/index.ts';
import type { FeedbackInfo } from '../../src/distributor/tracked-job.ts';
import { Relay } from '../helpers/relay.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const RUNS = Number(process.env.JR_MODEL_RUNS ?? 12);
const HEARTBEAT_MS = 100;
const NODES = ['m1', 'm2', 'l1'] as const;
type NodeName = (typeof NODES)[number];
type Kind = 'ok' | 'flaky' | 'fail' | 'periodic';
const PERIODIC_RUNS = 3;
const MAX_JOBS = Number(process.env.JR_MODEL_JOBS ?? 40);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function registry(): JobRegistry {
  const reg = new JobRegistry();
  reg.define('ok', async (args: { i: number; ms: number }) => {
    await sleep(args.ms);
    return { ...args, done: true };
  });
  reg.define('flaky', (args: { i: number }, ctx) => {
    if (ctx.attempt === 1) throw new Error('the first attempt fails');
    return { ...args, done: true };
  });
  reg.define('fail', () => {
    throw new Error('always fails');
  });
  reg.define('periodic', (args: { i: number }) => ({ ...args, done: true }));
  return reg;
}

interface Job {
  i: number;
  kind: Kind;
  id: string;
  successes: FeedbackInfo[];
  errors: FeedbackInfo[];
  result?: { ok: true; args: JobArgs } | { ok: false; error: unknown };
  acceptedSettled: boolean;
  cancel?: () => Promise<boolean>;
  /** What `cancel()` answered (undefined: not cancelled, or not answered yet). */
  cancelled?: boolean;
  cancelAsked: boolean;
}

/** The system under test, one per sequence. */
class Real {
  readonly jobs: Job[] = [];
  readonly problems: string[] = [];
  readonly relays = new Map<NodeName, Relay>();
  readonly nodes = new Map<NodeName, WorkerNode | undefined>();
  readonly #reg = registry();
  readonly #lmdbPath: string;

  private constructor(
    readonly d: Distributor,
    lmdbPath: string,
  ) {
    this.#lmdbPath = lmdbPath;
    d.on('feedback:threw', (err) => this.problems.push(`a feedback threw: ${String(err)}`));
  }

  static async create(): Promise<Real> {
    const d = await startDistributor({ port: 0, heartbeatMs: HEARTBEAT_MS, maxDeliveries: 1000 });
    const dir = mkdtempSync(join(tmpdir(), 'jr-model-'));
    dirs.push(dir);
    const real = new Real(d, join(dir, 'store'));
    const target = `127.0.0.1:${d.address.port}`;
    for (const name of NODES) {
      real.relays.set(name, await Relay.to(target));
      await real.start(name);
    }
    await waitUntil(() => d.nodes().length === NODES.length, 5000, 'three nodes');
    return real;
  }

  async start(name: NodeName): Promise<void> {
    const node = await startNode({
      name,
      distributors: [this.relays.get(name)!.address],
      registry: this.#reg,
      concurrency: 2,
      prefetch: 4,
      heartbeatMs: HEARTBEAT_MS,
      storage: name.startsWith('l') ? `lmdb:${this.#lmdbPath}` : 'memory',
      lmdbSync: 'commit',
    });
    this.nodes.set(name, node);
  }

  async stop(name: NodeName): Promise<void> {
    const node = this.nodes.get(name);
    this.nodes.set(name, undefined);
    await node?.stop({ timeout: 50 });
  }

  enqueue(kind: Kind, afterMs: number, prefer: NodeName | undefined, ms: number): void {
    const i = this.jobs.length;
    const options = {
      ...(afterMs > 0 ? { after: afterMs / 1000 } : {}),
      ...(prefer !== undefined ? { node: prefer } : {}),
      ...(kind === 'flaky' || kind === 'fail' ? { retryMultiplier: 0, maxAttempt: 2 } : {}),
      ...(kind === 'periodic' ? { period: 0.05, limit: PERIODIC_RUNS } : {}),
    };
    const job: Job = {
      i,
      kind,
      id: '',
      successes: [],
      errors: [],
      acceptedSettled: false,
      cancelAsked: false,
    };
    const handle = this.d.enqueue(
      kind,
      { i, ms },
      options,
      (_args, info) => void job.successes.push(info),
      (_args, _error, info) => void job.errors.push(info),
    );
    job.id = handle.id;
    job.cancel = () => handle.cancel();
    handle.result.then(
      (args) => (job.result = { ok: true, args }),
      (error: unknown) => (job.result = { ok: false, error }),
    );
    handle.accepted.then(
      () => (job.acceptedSettled = true),
      () => (job.acceptedSettled = true),
    );
    this.jobs.push(job);
  }

  /** Every link flowing and every node up again. */
  async heal(): Promise<void> {
    for (const relay of this.relays.values()) relay.thaw();
    for (const name of NODES) if (this.nodes.get(name) === undefined) await this.start(name);
  }

  /** What a healed system must show once it has settled; empty when all holds. */
  async check(): Promise<string[]> {
    const out = [...this.problems];
    try {
      await waitUntil(
        () =>
          this.jobs.every(
            (j) =>
              j.result !== undefined &&
              j.acceptedSettled &&
              (!j.cancelAsked || j.cancelled !== undefined),
          ),
        20_000,
        'every handle to settle',
        20,
      );
    } catch {
      const open = this.jobs.filter((j) => j.result === undefined || !j.acceptedSettled);
      for (const j of open.slice(0, 5)) {
        const seen = await this.d.getJob(j.id).catch(() => undefined);
        out.push(
          `job ${j.i} (${j.kind}, ${j.id}) did not settle: result ${j.result ? 'settled' : 'open'}, accepted ${j.acceptedSettled ? 'settled' : 'open'}; distributor sees ${JSON.stringify(seen)}`,
        );
      }
      return out;
    }
    for (const j of this.jobs) out.push(...outcomeProblems(j));
    await waitUntil(() => this.d.stats().tracked === 0, 2000, 'nothing tracked').catch(() =>
      out.push(`still tracked after every job ended: ${JSON.stringify(this.d.stats())}`),
    );
    return out;
  }

  async close(): Promise<void> {
    await this.d.close({ timeout: 100 });
    for (const name of NODES) await this.stop(name);
    for (const relay of this.relays.values()) await relay.close();
  }
}

function outcomeProblems(j: Job): string[] {
  const what = `job ${j.i} (${j.kind}, ${j.id})`;
  const out: string[] = [];
  const finals = [...j.successes, ...j.errors].filter((f) => f.final);
  if (j.cancelled === true) {
    // Cancelled while it ran or waited: the handle says so and no final feedback ran.
    const r = j.result!;
    if (r.ok || !(r.error instanceof JobCancelledError)) {
      out.push(`${what}: cancelled, but its result is ${describeResult(r)}`);
    }
    if (finals.length > 0) out.push(`${what}: cancelled, but ${finals.length} final feedbacks ran`);
    return out;
  }
  if (finals.length !== 1) out.push(`${what}: ${finals.length} final feedbacks`);
  const r = j.result!;
  if (j.kind === 'fail') {
    if (r.ok || !(r.error instanceof JobFailedError)) {
      out.push(`${what}: result should fail with JobFailedError, got ${describeResult(r)}`);
    }
    if (j.successes.length > 0) out.push(`${what}: ${j.successes.length} success feedbacks`);
    return out;
  }
  if (!r.ok || r.args.done !== true || r.args.i !== j.i) {
    out.push(`${what}: result should be its args with done, got ${describeResult(r)}`);
  }
  if (j.errors.length > 0) out.push(`${what}: ${j.errors.length} error feedbacks`);
  if (j.kind === 'periodic') {
    const runs = j.successes.map((f) => f.runs);
    if (new Set(runs).size !== runs.length)
      out.push(`${what}: a run's feedback came twice: ${runs.join(',')}`);
    if (runs.length !== PERIODIC_RUNS) out.push(`${what}: feedbacks of runs ${runs.join(',')}`);
  } else if (j.successes.length !== 1) {
    out.push(`${what}: ${j.successes.length} success feedbacks`);
  }
  return out;
}

function describeResult(r: Job['result']): string {
  if (r === undefined) return 'nothing';
  return r.ok ? JSON.stringify(r.args) : String(r.error);
}

interface Model {
  jobs: number;
  down: Set<NodeName>;
}
type Cmd = fc.AsyncCommand<Model, Real>;

const nodeName = fc.constantFrom(...NODES);

class Enqueue implements Cmd {
  constructor(
    readonly kind: Kind,
    readonly afterMs: number,
    readonly prefer: NodeName | undefined,
    readonly ms: number,
  ) {}
  check = (m: Readonly<Model>) => m.jobs < MAX_JOBS;
  async run(m: Model, r: Real): Promise<void> {
    m.jobs++;
    r.enqueue(this.kind, this.afterMs, this.prefer, this.ms);
  }
  toString = () => `enqueue(${this.kind}, after ${this.afterMs} ms, node ${this.prefer ?? '-'})`;
}

class Burst implements Cmd {
  constructor(readonly n: number) {}
  check = (m: Readonly<Model>) => m.jobs + this.n <= MAX_JOBS;
  async run(m: Model, r: Real): Promise<void> {
    m.jobs += this.n;
    for (let k = 0; k < this.n; k++) r.enqueue('ok', 0, undefined, k % 3);
  }
  toString = () => `burst(${this.n})`;
}

class Cancel implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.jobs > 0;
  async run(m: Model, r: Real): Promise<void> {
    const job = r.jobs[this.pick % m.jobs]!;
    if (job.cancelAsked) return;
    job.cancelAsked = true;
    void job.cancel!().then(
      (done) => (job.cancelled = done),
      (err: unknown) => {
        job.cancelled = false;
        r.problems.push(`cancel() of job ${job.i} rejected: ${String(err)}`);
      },
    );
  }
  toString = () => `cancel(#${this.pick})`;
}

class PauseNode implements Cmd {
  constructor(
    readonly node: NodeName,
    readonly ms: number,
  ) {}
  check = (m: Readonly<Model>) => !m.down.has(this.node);
  async run(_m: Model, r: Real): Promise<void> {
    const node = r.nodes.get(this.node)!;
    await node.pause();
    await sleep(this.ms);
    // Stopped meanwhile by nobody else: the model runs one command at a time.
    await node.resume();
  }
  toString = () => `pauseNode(${this.node}, ${this.ms} ms)`;
}

class Cut implements Cmd {
  constructor(readonly node: NodeName) {}
  check = (m: Readonly<Model>) => !m.down.has(this.node);
  async run(_m: Model, r: Real): Promise<void> {
    r.relays.get(this.node)!.cut();
  }
  toString = () => `cut(${this.node})`;
}

class Freeze implements Cmd {
  constructor(
    readonly node: NodeName,
    readonly ms: number,
  ) {}
  check = (m: Readonly<Model>) => !m.down.has(this.node);
  async run(_m: Model, r: Real): Promise<void> {
    const relay = r.relays.get(this.node)!;
    relay.freeze();
    await sleep(this.ms);
    relay.thaw();
  }
  toString = () => `freeze(${this.node}, ${this.ms} ms)`;
}

class Stop implements Cmd {
  constructor(readonly node: NodeName) {}
  check = (m: Readonly<Model>) => !m.down.has(this.node);
  async run(m: Model, r: Real): Promise<void> {
    m.down.add(this.node);
    await r.stop(this.node);
  }
  toString = () => `stop(${this.node})`;
}

class Start implements Cmd {
  constructor(readonly node: NodeName) {}
  check = (m: Readonly<Model>) => m.down.has(this.node);
  async run(m: Model, r: Real): Promise<void> {
    m.down.delete(this.node);
    await r.start(this.node);
  }
  toString = () => `start(${this.node})`;
}

class Pause implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(): Promise<void> {
    await sleep(this.ms);
  }
  toString = () => `sleep(${this.ms} ms)`;
}

const commands = [
  fc
    .tuple(
      fc.constantFrom<Kind>('ok', 'ok', 'flaky', 'fail', 'periodic'),
      fc.constantFrom(0, 0, 20, 150),
      fc.option(nodeName, { nil: undefined }),
      fc.integer({ min: 0, max: 30 }),
    )
    .map(([k, a, p, ms]) => new Enqueue(k, a, p, ms)),
  fc.integer({ min: 2, max: 12 }).map((n) => new Burst(n)),
  nodeName.map((n) => new Cut(n)),
  fc.tuple(nodeName, fc.constantFrom(50, 450)).map(([n, ms]) => new Freeze(n, ms)),
  nodeName.map((n) => new Stop(n)),
  nodeName.map((n) => new Start(n)),
  fc.constantFrom(0, 10, 60).map((ms) => new Pause(ms)),
  fc.nat(1000).map((k) => new Cancel(k)),
  fc.tuple(nodeName, fc.constantFrom(0, 80)).map(([n, ms]) => new PauseNode(n, ms)),
];

describe('model-based faults (R11): random enqueues, cuts, freezes and restarts', () => {
  it(`every handle settles with its kind's outcome, each feedback once (${RUNS} sequences)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands, { maxCommands: Number(process.env.JR_MODEL_COMMANDS ?? 14) }),
        async (cmds) => {
          const real = await Real.create();
          try {
            await fc.asyncModelRun(
              () => ({ model: { jobs: 0, down: new Set<NodeName>() }, real }),
              cmds,
            );
            await real.heal();
            const problems = await real.check();
            expect(problems).toEqual([]);
          } finally {
            await real.close();
          }
        },
      ),
      { numRuns: RUNS, endOnFailure: false, interruptAfterTimeLimit: 240_000 },
    );
  }, 300_000);
});
