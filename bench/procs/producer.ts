// A bench producer process: a job-reactor distributor, or a BullMQ / Bee-Queue queue
// client. The orchestrator (bench/run.ts) drives it through the tasks below.
import { makeProducer } from '../adapters/index.ts';
import type { ProducerAdapter, ProducerConfig, Stamp } from '../adapters/types.ts';
import { sleep, tick, wallNow } from '../lib/clock.ts';
import { childConfig, memoryNow, serve } from '../lib/ipc.ts';
import { summarize, type Summary } from '../lib/stats.ts';

const CHUNK = 1000;

const cfg = childConfig<ProducerConfig>();
const adapter: ProducerAdapter = await makeProducer(cfg);
let addErrors = 0;
let firstAddError = '';
const noteError = (err: unknown) => {
  if (addErrors++ === 0) firstAddError = String(err);
};

/** Enqueues `n` jobs in chunks: an async API is awaited per chunk, a sync one yields a turn. */
async function enqueueAll(n: number, add: (k: number) => Promise<unknown> | undefined) {
  for (let k = 0; k < n;) {
    const end = Math.min(n, k + CHUNK);
    const pending: Promise<unknown>[] = [];
    for (; k < end; k++) {
      const p = add(k);
      if (p) pending.push(p);
    }
    if (pending.length > 0) await Promise.all(pending);
    else await tick();
  }
}

/** Enqueues `n` jobs a chunk per call: an async API is awaited per call, a sync one yields a turn. */
async function enqueueChunks(
  n: number,
  addChunk: (k: number, count: number) => Promise<unknown> | undefined,
) {
  for (let k = 0; k < n; k += CHUNK) {
    const p = addChunk(k, Math.min(CHUNK, n - k));
    if (p) await p;
    else await tick();
  }
}

async function until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await sleep(2);
  }
}

function checkErrors(): void {
  if (addErrors > 0) throw new Error(`${addErrors} enqueue calls failed; first: ${firstAddError}`);
}

export interface ThroughputResult {
  start: number;
  enqueued: number;
  end: number;
  completed: number;
}

/**
 * N no-op jobs as fast as the API takes them; ends when `expect` completions were seen.
 * `bulk`: through the system's bulk API, one call per chunk of 1,000 (else one call a job).
 */
async function throughput(a: {
  n: number;
  from: number;
  expect: number;
  timeoutMs: number;
  bulk?: boolean;
}): Promise<ThroughputResult> {
  let completed = 0;
  let end = 0;
  adapter.onDone(() => {
    if (++completed === a.expect) end = wallNow();
  });
  const start = wallNow();
  if (a.bulk) await enqueueChunks(a.n, (k, count) => adapter.addBulk(a.from + k, count));
  else await enqueueAll(a.n, (k) => adapter.add(a.from + k, 'noop'));
  const enqueued = wallNow();
  await until(
    () => completed >= a.expect,
    a.timeoutMs,
    () => `${completed}/${a.expect} completions`,
  );
  checkErrors();
  return { start, enqueued, end, completed };
}

export interface RateResult {
  rate: number;
  sent: number;
  measured: number;
  achievedRate: number;
  start: Summary;
  feedback: Summary;
}

/** Stamping jobs at a steady rate: enqueue → start and enqueue → completion seen here. */
async function rate(a: {
  rate: number;
  durationMs: number;
  warmupMs: number;
  from: number;
}): Promise<RateResult> {
  const total = Math.ceil((a.rate * (a.durationMs + a.warmupMs)) / 1000) + 16;
  const enq = new Float64Array(total);
  const startLat = new Float64Array(total);
  const fbLat = new Float64Array(total);
  let completed = 0;
  adapter.onDone((i, s, t) => {
    const k = i - a.from;
    if (k < 0 || k >= total || s === undefined) return;
    startLat[k] = s.s - enq[k]!;
    fbLat[k] = t - enq[k]!;
    completed++;
  });
  const t0 = wallNow();
  const stopAt = t0 + a.warmupMs + a.durationMs;
  let sent = 0;
  for (;;) {
    const now = wallNow();
    if (now >= stopAt) break;
    const target = Math.min(total, Math.floor(((now - t0) * a.rate) / 1000));
    while (sent < target) {
      enq[sent] = wallNow();
      adapter.add(a.from + sent, 'stamp')?.catch(noteError);
      sent++;
    }
    await sleep(1);
  }
  const measuredFrom = Math.floor((a.rate * a.warmupMs) / 1000);
  const sentAt = wallNow();
  await until(
    () => completed >= sent,
    30_000,
    () => `${completed}/${sent} completions`,
  );
  checkErrors();
  return {
    rate: a.rate,
    sent,
    measured: sent - measuredFrom,
    achievedRate: ((sent - measuredFrom) * 1000) / (sentAt - t0 - a.warmupMs),
    start: summarize(startLat.subarray(measuredFrom, sent)),
    feedback: summarize(fbLat.subarray(measuredFrom, sent)),
  };
}

export interface DelayedResult {
  n: number;
  loadMs: number;
  lateness: Summary;
  /** Started before the due time by the system clock (`Date.now()`), as the worker saw it. */
  early: number;
  /** Started before the due time by the calibrated sub-ms clock (informative). */
  earlyFine: number;
}

/** `n` jobs due uniformly over [fromMs, toMs] from now; lateness = start − due. */
async function delayed(a: {
  n: number;
  fromMs: number;
  toMs: number;
  from: number;
}): Promise<DelayedResult> {
  const late = new Float64Array(a.n);
  let completed = 0;
  let early = 0;
  adapter.onDone((i, s: Stamp | undefined) => {
    const k = i - a.from;
    if (k < 0 || k >= a.n || s === undefined) return;
    late[k] = s.s - s.d;
    early += s.e;
    completed++;
  });
  const t0 = Date.now();
  const span = a.toMs - a.fromMs;
  await enqueueAll(a.n, (k) =>
    adapter.add(a.from + k, 'stamp', t0 + a.fromMs + Math.floor((k * span) / a.n)),
  );
  const loadMs = Date.now() - t0;
  await until(
    () => completed >= a.n,
    a.toMs + 30_000,
    () => `${completed}/${a.n} delayed completions`,
  );
  checkErrors();
  let earlyFine = 0;
  for (const l of late) if (l < 0) earlyFine++;
  return { n: a.n, loadMs, lateness: summarize(late), early, earlyFine };
}

/**
 * Bulk-enqueues `n` jobs due in `dueInMs` (they wait), or instant ones without it (they run
 * meanwhile); the time until all are stored (job-reactor: accepted by the node).
 */
async function load(a: { n: number; from: number; dueInMs?: number }): Promise<{ ms: number }> {
  const t0 = wallNow();
  await adapter.addMany(a.from, a.n, a.dueInMs === undefined ? undefined : Date.now() + a.dueInMs);
  return { ms: wallNow() - t0 };
}

serve(
  {
    waitForWorkers: (n: number) => adapter.waitForWorkers(n),
    throughput,
    rate,
    delayed,
    load,
    mem: () => memoryNow(),
    cpu: () => process.cpuUsage(),
  },
  () => adapter.close(),
  { address: adapter.address },
);
