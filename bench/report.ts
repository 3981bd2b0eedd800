import { LABELS, SYSTEMS, type SystemId } from './adapters/types.ts';
import type { Metrics, Sizes } from './scenarios.ts';

export interface Results {
  meta: Record<string, unknown>;
  sizes: Sizes;
  /** Figures by system. */
  figures: Partial<Record<SystemId, Metrics>>;
  /** Scenarios that crashed, by system. */
  errors: { system: SystemId; scenario: string; error: string }[];
  targets?: TargetResult[];
}

type Unit = 'jobs/s' | 'ms' | 'B' | 'count' | 'µs';
interface MetricDef {
  key: string;
  label: string;
  unit: Unit;
  /** Whether a higher figure is better (ratios are always job-reactor ÷ peer). */
  higher: boolean;
}

const k = (n: number) =>
  n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : `${n}`;

export function metricDefs(sizes: Sizes): { section: string; metrics: MetricDef[] }[] {
  const tp = (key: string, label: string): MetricDef => ({
    key,
    label,
    unit: 'jobs/s',
    higher: true,
  });
  const ms = (key: string, label: string): MetricDef => ({ key, label, unit: 'ms', higher: false });
  const cpu = (key: string, label: string): MetricDef => ({
    key,
    label,
    unit: 'µs',
    higher: false,
  });
  return [
    {
      section: `1. Throughput end to end (${k(sizes.throughputN)} no-op jobs per run, best of ${sizes.reps} runs, concurrency 50, completion seen by the producer; "bulk" rows: enqueued with the bulk API, 1,000 jobs a call — enqueueMany, addBulk, saveAll)`,
      metrics: [
        tp('throughput.1node', '1 producer, 1 worker (best of the runs)'),
        tp('throughput.1node.median', '1 producer, 1 worker (median run)'),
        tp('throughput.2nodes', '1 producer, 2 workers'),
        tp('throughput.2producers', '2 producers, 1 worker'),
        cpu('throughput.1node.producerCpu', 'CPU per job, producer (1 worker)'),
        cpu('throughput.1node.workerCpu', 'CPU per job, worker (1 worker)'),
        cpu('throughput.1node.redisCpu', 'CPU per job, redis-server (1 worker)'),
        tp('throughput.1node.bulk', 'bulk: 1 producer, 1 worker (best of the runs)'),
        tp('throughput.1node.bulk.median', 'bulk: 1 producer, 1 worker (median run)'),
        tp('throughput.2nodes.bulk', 'bulk: 1 producer, 2 workers'),
        tp('throughput.2producers.bulk', 'bulk: 2 producers, 1 worker'),
        cpu('throughput.1node.bulk.producerCpu', 'bulk: CPU per job, producer (1 worker)'),
        cpu('throughput.1node.bulk.workerCpu', 'bulk: CPU per job, worker (1 worker)'),
        cpu('throughput.1node.bulk.redisCpu', 'bulk: CPU per job, redis-server (1 worker)'),
      ],
    },
    {
      section:
        '2. Latency at a steady rate (enqueue → start, enqueue → completion seen by the producer)',
      metrics: sizes.rates.flatMap(({ rate }) => [
        tp(`latency.${rate}.achieved`, `${k(rate)}/s: rate achieved`),
        ms(`latency.${rate}.start.p50`, `${k(rate)}/s: enqueue → start p50`),
        ms(`latency.${rate}.start.p99`, `${k(rate)}/s: enqueue → start p99`),
        ms(`latency.${rate}.start.max`, `${k(rate)}/s: enqueue → start max`),
        ms(`latency.${rate}.feedback.p50`, `${k(rate)}/s: enqueue → completion p50`),
        ms(`latency.${rate}.feedback.p99`, `${k(rate)}/s: enqueue → completion p99`),
        ms(`latency.${rate}.feedback.max`, `${k(rate)}/s: enqueue → completion max`),
      ]),
    },
    {
      section: `3. Delayed-job punctuality (${k(sizes.delayed.n)} jobs due uniformly over ${sizes.delayed.fromMs / 1000}–${sizes.delayed.toMs / 1000} s; lateness = start − due)`,
      metrics: [
        ms('delayed.p50', 'lateness p50'),
        ms('delayed.p99', 'lateness p99'),
        ms('delayed.max', 'lateness max'),
        { key: 'delayed.early', label: 'early starts', unit: 'count', higher: false },
      ],
    },
    {
      section: `4. Scale (instant-job throughput, ${k(sizes.scaleN)} jobs per run, best of ${sizes.reps}, while delayed jobs wait; memory per waiting job)`,
      metrics: sizes.scaleDelayed.flatMap((d) => [
        tp(`scale.${d}.throughput`, `throughput, ${k(d)} waiting`),
        ...(d === 0
          ? []
          : [
              {
                key: `scale.${d}.nodeRss`,
                label: `node RSS per waiting job (${k(d)})`,
                unit: 'B',
                higher: false,
              } as MetricDef,
              {
                key: `scale.${d}.redis`,
                label: `Redis memory per waiting job (${k(d)})`,
                unit: 'B',
                higher: false,
              } as MetricDef,
              {
                key: `scale.${d}.disk`,
                label: `disk per waiting job (${k(d)})`,
                unit: 'B',
                higher: false,
              } as MetricDef,
              tp(`scale.${d}.loadRate`, `loading ${k(d)} delayed jobs`),
            ]),
      ]),
    },
    {
      section: `5. Bulk enqueue (${k(sizes.bulkN)} no-op jobs through the bulk API, 1,000 a call, until all are stored/accepted)`,
      metrics: [
        tp('bulk.rate', 'jobs due in 1 h'),
        tp('bulkInstant.rate', 'instant jobs (the worker runs them meanwhile)'),
      ],
    },
  ];
}

function fmt(v: number | undefined, unit: Unit): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  switch (unit) {
    case 'jobs/s':
      return Math.round(v).toLocaleString('en-US');
    case 'ms':
      return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
    case 'B':
    case 'µs':
      return Math.round(v).toLocaleString('en-US');
    case 'count':
      return String(Math.round(v));
  }
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return '–';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export function markdownTable(res: Results): string {
  const f = res.figures;
  // jr-tls only when it ran (it is opt-in), with its own ratio: TLS on ÷ off, same run.
  const tls = f['jr-tls'] !== undefined;
  const systems = SYSTEMS.filter((s) => s !== 'jr-tls' || tls);
  const head =
    '| metric | unit | ' +
    systems.map((s) => LABELS[s]).join(' | ') +
    ' | mem ÷ BullMQ | mem ÷ Bee | Redis ÷ BullMQ | Redis ÷ Bee | LMDB ÷ mem | LMDB ÷ Bee |' +
    (tls ? ' TLS ÷ mem |' : '');
  const ratioCount = tls ? 7 : 6;
  const sep = '|' + ' --- |'.repeat(2) + ' ---: |'.repeat(systems.length + ratioCount);
  const out: string[] = [];
  for (const { section, metrics } of metricDefs(res.sizes)) {
    const rows = metrics.filter((m) => systems.some((s) => f[s]?.[m.key] !== undefined));
    if (rows.length === 0) continue;
    out.push(`**${section}**`, '', head, sep);
    for (const m of rows) {
      const v = (s: SystemId) => f[s]?.[m.key];
      const cells = systems.map((s) => fmt(v(s), m.unit));
      const ratios =
        m.unit === 'count'
          ? Array<string>(ratioCount).fill('')
          : [
              ratio(v('jr-memory'), v('bullmq')),
              ratio(v('jr-memory'), v('bee')),
              ratio(v('jr-redis'), v('bullmq')),
              ratio(v('jr-redis'), v('bee')),
              ratio(v('jr-lmdb'), v('jr-memory')),
              ratio(v('jr-lmdb'), v('bee')),
              ...(tls ? [ratio(v('jr-tls'), v('jr-memory'))] : []),
            ];
      out.push(`| ${m.label} | ${m.unit} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
    }
    out.push('');
  }
  out.push(
    'Ratios are job-reactor ÷ peer: above 1× is better for jobs/s, below 1× is better for ms and bytes.',
  );
  return out.join('\n');
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The targets, checked against this run (undefined: not measured in this run). */
export function checkTargets(res: Results): TargetResult[] {
  const f = res.figures;
  const g = (s: SystemId, key: string) => f[s]?.[key];
  const out: TargetResult[] = [];
  const add = (
    target: string,
    value: number | undefined,
    ok: (v: number) => boolean,
    show: (v: number) => string,
  ) =>
    out.push({
      target,
      measured: value === undefined || Number.isNaN(value) ? 'not measured' : show(value),
      met: value === undefined || Number.isNaN(value) ? undefined : ok(value),
    });
  const div = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;
  const x = (v: number) => `${v.toFixed(2)}×`;
  const msf = (v: number) => `${v.toFixed(3)} ms`;
  const jobsPerS = (v: number) => `${fmt(v, 'jobs/s')} jobs/s`;
  const us = (v: number) => `${v.toFixed(1)} µs`;
  // Issue #10, goal 1: memory storage, 1 producer + 1 worker, against the peers' rows with
  // one add call a job (the same settings for every system; the bulk rows are extra).
  const tp = 'throughput.1node';
  add(
    'Throughput (1 producer, 1 worker), memory ≥ 12× BullMQ',
    div(g('jr-memory', tp), g('bullmq', tp)),
    (v) => v >= 12,
    x,
  );
  add(
    'Throughput (1 producer, 1 worker), memory ≥ 3× Bee-Queue',
    div(g('jr-memory', tp), g('bee', tp)),
    (v) => v >= 3,
    x,
  );
  add(
    'Throughput (2 producers, 1 worker), memory ≥ its 1-producer figure',
    div(g('jr-memory', 'throughput.2producers'), g('jr-memory', tp)),
    (v) => v >= 1,
    x,
  );
  add(
    'Throughput (1 producer, 2 workers), memory ≥ its 1-worker figure',
    div(g('jr-memory', 'throughput.2nodes'), g('jr-memory', tp)),
    (v) => v >= 1,
    x,
  );
  // Issue #13: LMDB storage (durable, sync 'flush'), in the same run.
  add(
    'Throughput (1 producer, 1 worker), LMDB ≥ 0.8× memory',
    div(g('jr-lmdb', tp), g('jr-memory', tp)),
    (v) => v >= 0.8,
    x,
  );
  add(
    'Throughput (1 producer, 1 worker), LMDB ≥ 2× Bee-Queue',
    div(g('jr-lmdb', tp), g('bee', tp)),
    (v) => v >= 2,
    x,
  );
  // Goal 2: Redis storage.
  add(
    'Throughput (1 producer, 1 worker), Redis ≥ 1.5× Bee-Queue',
    div(g('jr-redis', tp), g('bee', tp)),
    (v) => v >= 1.5,
    x,
  );
  add(
    'Throughput (1 producer, 1 worker), Redis ≥ 5× BullMQ',
    div(g('jr-redis', tp), g('bullmq', tp)),
    (v) => v >= 5,
    x,
  );
  // Goal 3: CPU per job of the 1-producer, 1-worker throughput row (the producer is the same distributor
  // for either storage: checked for both).
  add(
    'CPU per job, producer ≤ 5 µs (memory)',
    g('jr-memory', `${tp}.producerCpu`),
    (v) => v <= 5,
    us,
  );
  add(
    'CPU per job, producer ≤ 5 µs (Redis)',
    g('jr-redis', `${tp}.producerCpu`),
    (v) => v <= 5,
    us,
  );
  add('CPU per job, memory node ≤ 5 µs', g('jr-memory', `${tp}.workerCpu`), (v) => v <= 5, us);
  add('CPU per job, Redis node ≤ 12 µs', g('jr-redis', `${tp}.workerCpu`), (v) => v <= 12, us);
  add(
    'CPU per job, redis-server ≤ 5 µs (Redis storage)',
    g('jr-redis', `${tp}.redisCpu`),
    (v) => v <= 5,
    us,
  );
  // Goal 4: latency. At 10k jobs/s with Redis storage, then the targets that keep holding:
  // 1k jobs/s with memory storage, delayed-job punctuality.
  add(
    '10,000 jobs/s, Redis: enqueue→start p99 ≤ 5 ms',
    g('jr-redis', 'latency.10000.start.p99'),
    (v) => v <= 5,
    msf,
  );
  const l = 'latency.1000';
  add(
    '1,000 jobs/s, memory: enqueue→start p99 ≤ 1 ms',
    g('jr-memory', `${l}.start.p99`),
    (v) => v <= 1,
    msf,
  );
  add(
    '1,000 jobs/s, memory: enqueue→start p99 ≤ ½ BullMQ',
    div(g('jr-memory', `${l}.start.p99`), g('bullmq', `${l}.start.p99`)),
    (v) => v <= 0.5,
    x,
  );
  add(
    '1,000 jobs/s, memory: enqueue→feedback p99 ≤ 1.5 ms',
    g('jr-memory', `${l}.feedback.p99`),
    (v) => v <= 1.5,
    msf,
  );
  add(
    '1,000 jobs/s, memory: enqueue→feedback p99 ≤ ½ BullMQ',
    div(g('jr-memory', `${l}.feedback.p99`), g('bullmq', `${l}.feedback.p99`)),
    (v) => v <= 0.5,
    x,
  );
  add('Delayed lateness p99 ≤ 2 ms (memory)', g('jr-memory', 'delayed.p99'), (v) => v <= 2, msf);
  add('Delayed lateness max ≤ 10 ms (memory)', g('jr-memory', 'delayed.max'), (v) => v <= 10, msf);
  add('Delayed: 0 early starts (memory)', g('jr-memory', 'delayed.early'), (v) => v === 0, String);
  add('Delayed: 0 early starts (Redis)', g('jr-redis', 'delayed.early'), (v) => v === 0, String);
  // Goal 5: enqueueMany of instant jobs to a memory node, until all are accepted.
  add(
    `enqueueMany ${k(res.sizes.bulkN)} instant jobs, memory ≥ 500k jobs/s`,
    g('jr-memory', 'bulkInstant.rate'),
    (v) => v >= 500_000,
    jobsPerS,
  );
  // Goal 6 (with the full sizes: 1M waiting), and memory per waiting job.
  const top = Math.max(...res.sizes.scaleDelayed);
  if (top > 0) {
    const kTop = top >= 1_000_000 ? `${top / 1_000_000}M` : `${top / 1000}k`;
    add(
      `Scale: throughput with ${kTop} delayed waiting within 10% of none (memory)`,
      div(g('jr-memory', `scale.${top}.throughput`), g('jr-memory', 'scale.0.throughput')),
      (v) => v >= 0.9,
      x,
    );
    add(
      `Scale: node RSS ≤ 400 B per waiting job (memory, ${kTop})`,
      g('jr-memory', `scale.${top}.nodeRss`),
      (v) => v <= 400,
      (v) => `${Math.round(v)} B`,
    );
    add(
      `Scale: Redis ≤ 200 B per waiting job (Redis storage, ${kTop})`,
      g('jr-redis', `scale.${top}.redis`),
      (v) => v <= 200,
      (v) => `${Math.round(v)} B`,
    );
    add(
      `Scale: disk ≤ 200 B per waiting job (LMDB storage, ${kTop})`,
      g('jr-lmdb', `scale.${top}.disk`),
      (v) => v <= 200,
      (v) => `${Math.round(v)} B`,
    );
  }
  return out;
}

export function targetsMarkdown(targets: TargetResult[]): string {
  return [
    '| target | measured | met |',
    '| --- | ---: | :---: |',
    ...targets.map(
      (t) =>
        `| ${t.target} | ${t.measured} | ${t.met === undefined ? '–' : t.met ? 'yes' : '**no**'} |`,
    ),
  ].join('\n');
}
