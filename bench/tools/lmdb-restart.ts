// The LMDB storage at scale (issue #13): stores N delayed jobs (due in an hour) as a node
// stores them, reports the disk bytes per waiting job, then times a restart: a fresh process
// whose node opens the store and resumes every job (startNode resolves once it has) .
// Usage: node --import tsx bench/tools/lmdb-restart.ts [jobs] [dir]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IdGenerator } from '../../src/model/ids.ts';
import type { JobRecord } from '../../src/model/job.ts';
import { JobRegistry, LmdbStorage, startNode } from '../../src/index.ts';

const NODE = 'restart';
const [mode, ...rest] = process.argv.slice(2);

if (mode === '--resume') {
  // The restarted node: nothing else in this process.
  const dir = rest[0]!;
  const registry = new JobRegistry();
  registry.define('bench.noop', () => undefined);
  const t0 = performance.now();
  const node = await startNode({ name: NODE, distributors: [], storage: `lmdb:${dir}`, registry });
  const ms = performance.now() - t0;
  const rss = process.memoryUsage().rss;
  await node.stop({ timeout: 100 });
  process.stdout.write(`${JSON.stringify({ ms, rss })}\n`);
  process.exit(0);
}

const n = Number(mode ?? 1_000_000);
const dir = rest[0] ?? mkdtempSync(join(tmpdir(), 'jr-lmdb-restart-'));
const storage = new LmdbStorage({ path: dir });
await storage.open(NODE);
const ids = new IdGenerator();
const t0 = Date.now();
const CHUNK = 5000;
for (let i = 0; i < n;) {
  const writes: Promise<void>[] = [];
  for (const end = Math.min(n, i + CHUNK); i < end; i++) {
    const now = Date.now();
    const record: JobRecord = {
      id: ids.next(now),
      name: 'bench.noop',
      args: { i },
      distributor: 'd41c8e2f0a9b7c63',
      enqueuedAt: now,
      runAt: t0 + 3_600_000,
      delivery: 1,
      node: NODE,
      status: 'new',
      attempt: 0,
      dueAt: t0 + 3_600_000,
      runs: 0,
      updatedAt: now + 1,
    };
    writes.push(storage.save(record));
  }
  await Promise.all(writes);
}
const loadMs = Date.now() - t0;
await storage.close();
const st = statSync(join(dir, 'data.mdb'));
const out = {
  jobs: n,
  loadJobsPerS: Math.round((n * 1000) / loadMs),
  diskBytesPerJob: Math.round((st.blocks * 512) / n),
  fileBytesPerJob: Math.round(st.size / n),
};
console.log(JSON.stringify(out));
const self = fileURLToPath(import.meta.url);
for (let run = 1; run <= 2; run++) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--resume', dir], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`restart failed: ${r.stderr}`);
  const { ms, rss } = JSON.parse(r.stdout) as { ms: number; rss: number };
  console.log(
    JSON.stringify({ restart: run, resumeMs: Math.round(ms), rssMiB: Math.round(rss / 2 ** 20) }),
  );
}
if (rest[0] === undefined) rmSync(dir, { recursive: true, force: true });
