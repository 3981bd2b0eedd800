// The benchmark suite: job-reactor (memory and Redis storage) side by side with BullMQ and
// Bee-Queue. `npm run bench` (full, ~15 min), `npm run bench -- --quick` (CI smoke run,
// under 2 minutes). See bench/README.md.
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SYSTEMS, LABELS, SYSTEMS, type SystemId } from './adapters/types.ts';
import { makeTestCerts } from '../test/helpers/tls-certs.ts';
import { startRedis, type BenchRedis } from './lib/redis-server.ts';
import { checkTargets, markdownTable, targetsMarkdown, type Results } from './report.ts';
import {
  bulkInstantScenario,
  bulkScenario,
  delayedScenario,
  latencyScenario,
  scaleScenario,
  throughputScenario,
  type Metrics,
  type Sizes,
} from './scenarios.ts';

const STANDARD: Sizes = {
  throughputN: 50_000,
  reps: 3,
  warmupN: 10_000,
  rates: [
    { rate: 1_000, durationMs: 10_000, warmupMs: 2_000 },
    { rate: 10_000, durationMs: 5_000, warmupMs: 1_000 },
  ],
  delayed: { n: 10_000, fromMs: 2_000, toMs: 7_000 },
  scaleDelayed: [0, 100_000],
  scaleN: 50_000,
  bulkN: 100_000,
};

const SIZES: Record<'quick' | 'standard' | 'full', Sizes> = {
  quick: {
    throughputN: 5_000,
    reps: 1,
    warmupN: 1_000,
    rates: [
      { rate: 1_000, durationMs: 1_000, warmupMs: 200 },
      { rate: 10_000, durationMs: 600, warmupMs: 200 },
    ],
    delayed: { n: 1_000, fromMs: 500, toMs: 1_500 },
    scaleDelayed: [0, 10_000],
    scaleN: 5_000,
    bulkN: 10_000,
  },
  standard: STANDARD,
  // The standard sizes plus the 1M-waiting scale run.
  full: {
    ...STANDARD,
    scaleDelayed: [0, 100_000, 1_000_000],
  },
};

const SCENARIOS = ['throughput', 'latency', 'delayed', 'scale', 'bulk', 'bulk-instant'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    standard: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    save: { type: 'boolean', default: false },
    'from-source': { type: 'boolean', default: false },
    topology: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(`npm run bench [-- options]
  --quick            small sizes, under 2 minutes (the CI smoke run)
  --standard         full sizes without the 1M-delayed scale run
  --only a,b         scenarios: ${SCENARIOS.join(', ')}
  --systems a,b      systems: ${SYSTEMS.join(', ')} (default: all but jr-tls;
                     jr-tls is jr-memory over mutual TLS: name both to compare them)
  --save             also write bench/RESULTS.md (for a full run)
  --from-source      run job-reactor's TypeScript through tsx instead of a tsc build
  --topology a,b     throughput topologies: 1node, 2nodes, 2producers`);
  process.exit(0);
}
const mode = flags.quick ? 'quick' : flags.standard ? 'standard' : 'full';
const sizes = SIZES[mode];
const scenarios = pick(flags.only, SCENARIOS, 'scenario');
const systems = pick(flags.systems, SYSTEMS, 'system', DEFAULT_SYSTEMS);

function pick<T extends string>(
  list: string | undefined,
  all: readonly T[],
  what: string,
  byDefault: readonly T[] = all,
): T[] {
  if (list === undefined) return [...byDefault];
  const wanted = list.split(',').map((s) => s.trim());
  for (const w of wanted) {
    if (!all.includes(w as T)) {
      console.error(`unknown ${what} '${w}' (one of ${all.join(', ')})`);
      process.exit(2);
    }
  }
  return all.filter((a) => wanted.includes(a));
}

const root = fileURLToPath(new URL('..', import.meta.url));
const version = (pkg: string) => {
  try {
    return (
      JSON.parse(readFileSync(`${root}node_modules/${pkg}/package.json`, 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '?';
  }
};
const git = (cmd: string) => {
  try {
    return execSync(`git ${cmd}`, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '?';
  }
};

/**
 * Compiles the library like `npm run build` does (tsc, no source maps) into bench/results/,
 * so the bench measures what users run; `--from-source` runs the TypeScript through tsx.
 */
function buildLibrary(): string | undefined {
  if (flags['from-source']) return undefined;
  const out = `${root}bench/results/.build`;
  const t0 = Date.now();
  try {
    execSync(
      `npx tsc -p tsconfig.build.json --outDir ${out} --sourceMap false --declaration false --noEmitOnError false`,
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch {
    // Type errors still emit; a missing output is caught below.
  }
  const entry = `${out}/index.js`;
  try {
    readFileSync(entry);
  } catch {
    console.error('could not build the library; running it from source');
    return undefined;
  }
  console.log(`built the library in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return entry;
}

const started = Date.now();
const entry = buildLibrary();
if (entry !== undefined) process.env.BENCH_JR_ENTRY = entry;
const redis: BenchRedis = await startRedis();
// jr-tls: certificates for this run (the bench's processes inherit the variable).
const certs = systems.includes('jr-tls') ? makeTestCerts() : undefined;
if (certs !== undefined) process.env.BENCH_TLS_DIR = certs.dir;
const results: Results = {
  meta: {
    date: new Date().toISOString(),
    mode,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? '?',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
    },
    versions: {
      node: process.version,
      'job-reactor': `${version('..')}`,
      jobReactorBuild: entry === undefined ? 'sources through tsx' : 'tsc build',
      jobReactorCommit: `${git('rev-parse --short HEAD')}${git('status --porcelain src') ? ' (+ uncommitted changes)' : ''}`,
      bullmq: version('bullmq'),
      'bee-queue': version('bee-queue'),
      ioredis: version('ioredis'),
      redis: redis.version,
    },
    settings:
      'concurrency 50 per worker; workers in their own processes; no-op processors; completed jobs removed; payload {i} (+ st:1 for stamping jobs); Redis without persistence on loopback',
  },
  sizes,
  figures: {},
  errors: [],
};
(results.meta.versions as Record<string, string>)['job-reactor'] = (
  JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }
).version;

const steps: { scenario: ScenarioName; label: string; run: (s: SystemId) => Promise<Metrics> }[] =
  [];
for (const sc of scenarios) {
  switch (sc) {
    case 'throughput':
      // Each topology twice: one enqueue call a job (the targets' rows), then the bulk API.
      for (const t of pick(flags.topology, ['1node', '2nodes', '2producers'] as const, 'topology'))
        for (const bulk of [false, true])
          steps.push({
            scenario: sc,
            label: `throughput ${t}${bulk ? ' bulk' : ''}`,
            run: (s) => throughputScenario(s, redis, sizes, t, bulk),
          });
      break;
    case 'latency':
      steps.push({ scenario: sc, label: 'latency', run: (s) => latencyScenario(s, redis, sizes) });
      break;
    case 'delayed':
      steps.push({ scenario: sc, label: 'delayed', run: (s) => delayedScenario(s, redis, sizes) });
      break;
    case 'scale':
      for (const d of sizes.scaleDelayed)
        steps.push({
          scenario: sc,
          label: `scale ${d}`,
          run: (s) => scaleScenario(s, redis, sizes, d),
        });
      break;
    case 'bulk':
      steps.push({ scenario: sc, label: 'bulk', run: (s) => bulkScenario(s, redis, sizes) });
      break;
    case 'bulk-instant':
      steps.push({
        scenario: sc,
        label: 'bulk-instant',
        run: (s) => bulkInstantScenario(s, redis, sizes),
      });
      break;
  }
}

for (const step of steps) {
  for (const system of systems) {
    const t0 = Date.now();
    try {
      const m = await step.run(system);
      Object.assign((results.figures[system] ??= {}), m);
      console.log(
        `${step.label.padEnd(26)} ${LABELS[system].padEnd(22)} ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${summaryLine(m)}`,
      );
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.errors.push({ system, scenario: step.label, error });
      console.error(`${step.label} ${LABELS[system]} FAILED: ${error}`);
    }
  }
}
await redis.stop();
certs?.remove();

function summaryLine(m: Metrics): string {
  return Object.entries(m)
    .map(
      ([k, v]) => `${k.split('.').slice(1).join('.')}=${v >= 100 ? Math.round(v) : v.toFixed(2)}`,
    )
    .join(' ');
}

results.targets = checkTargets(results);
results.meta.durationS = Math.round((Date.now() - started) / 1000);
const table = markdownTable(results);
const targets = targetsMarkdown(results.targets);
const m = results.meta as { machine: Record<string, unknown>; versions: Record<string, string> };
const md = [
  `## Benchmark results (${mode}), ${results.meta.date as string}`,
  '',
  `Machine: ${String(m.machine.cpus)} × ${String(m.machine.cpu)}, ${String(m.machine.memoryGiB)} GiB, ${String(m.machine.os)}. ` +
    `Node ${m.versions.node}, job-reactor ${m.versions['job-reactor']} (${m.versions.jobReactorCommit}), BullMQ ${m.versions.bullmq}, Bee-Queue ${m.versions['bee-queue']}, Redis ${m.versions.redis}. ` +
    `Run took ${String(results.meta.durationS)} s.`,
  '',
  table,
  '',
  '### Targets',
  '',
  targets,
  '',
  ...(results.errors.length > 0
    ? [
        '### Failed scenarios',
        '',
        ...results.errors.map(
          (e) => `- ${e.scenario} / ${LABELS[e.system]}: ${e.error.split('\n')[0]}`,
        ),
        '',
      ]
    : []),
].join('\n');

const dir = `${root}bench/results`;
mkdirSync(dir, { recursive: true });
const stamp = results.meta.date as string;
const base = `${dir}/${mode}-${stamp.replace(/[:.]/g, '-')}`;
writeFileSync(`${base}.json`, JSON.stringify(results, null, 2));
writeFileSync(`${base}.md`, md + '\n');
writeFileSync(`${dir}/latest-${mode}.json`, JSON.stringify(results, null, 2));
writeFileSync(`${dir}/latest-${mode}.md`, md + '\n');
if (flags.save) {
  // Committed, so formatted the way `npm run format:check` wants it.
  const file = `${root}bench/RESULTS.md`;
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(renderResultsFile(md), { ...options, filepath: file }));
}
console.log('\n' + md);
console.log(`\nwritten: ${base}.md, ${base}.json`);

function renderResultsFile(body: string): string {
  const intro = readFileSync(`${root}bench/RESULTS.intro.md`, 'utf8');
  return `${intro.trim()}\n\n${body}\n`;
}

// Exit non-zero only when a scenario crashed: a missed target is a figure, not a failure.
process.exit(results.errors.length > 0 ? 1 : 0);
