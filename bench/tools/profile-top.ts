// Summarizes a V8 .cpuprofile (as written by `BENCH_PROF=<dir> npm run bench`): the
// functions with the most self time, and with the most total (inclusive) time.
// Usage: node --import tsx bench/tools/profile-top.ts <file.cpuprofile> [count]
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples?: number[];
  timeDeltas?: number[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: profile-top.ts <file.cpuprofile> [count]');
  process.exit(2);
}
const count = Number(process.argv[3] ?? 30);
/** Optional: only list these functions in the total view (a regular expression). */
const only = process.argv[4] === undefined ? undefined : new RegExp(process.argv[4]);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const name = (n: Node) => {
  const url = n.callFrame.url.replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1');
  return `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
const samples = prof.samples ?? [];
const deltas = prof.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) {
  const dt = deltas[i] ?? 0;
  let n = byId.get(samples[i]!);
  if (!n) continue;
  all += dt;
  self.set(name(n), (self.get(name(n)) ?? 0) + dt);
  const seen = new Set<string>();
  while (n) {
    const k = name(n);
    if (!seen.has(k)) {
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
    const p = parent.get(n.id);
    n = p === undefined ? undefined : byId.get(p);
  }
}
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(
      `${((100 * v) / all).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`,
    );
  }
};
show('self', self);
show('total', only ? new Map([...total].filter(([k]) => only.test(k))) : total);
