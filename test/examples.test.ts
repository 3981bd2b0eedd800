import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `examples/<name>/main.ts` the way a user would (`tsx`), killing it after `limitMs`. */
function runExample(name: string, limitMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}/main.ts`], {
      cwd: ROOT,
      env: { ...process.env, JR_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Each example and lines its output must contain. */
const EXPECTED: Record<string, RegExp[]> = {
  'quick-start': [/^Hello, Ada! \(from worker_1\)$/m],
  feedbacks: [
    /\[app\] success feedback from worker_1: .*"subtotal":200,"tax":40,"receipt":"#/,
    /\[node\] errback 'log': attempt 2 failed/,
    /\[app\] charge succeeded on attempt 3/,
    /\[app\] error feedback after 1 attempt: JR_ERR_UNRECOVERABLE .*customerNotified=true/,
    /\[app\] result rejected: JR_ERR_JOB_FAILED, cause JR_ERR_UNRECOVERABLE/,
  ],
  routing: [
    /node: 'b', strictNode: true +→ b×6$/m,
    /notNode: 'a' +→ (b×\d gpu×\d|gpu×\d)$/m,
    /render \(defined on gpu only\) +→ gpu made teapot\.png/,
    /'no\.such\.job' .*→ JR_ERR_UNKNOWN_JOB/,
    /node 'late' connects +→ ran on late/,
  ],
  periodic: [
    /heartbeat run 3 \(cancelled itself: final\)/,
    /heartbeat result: \{"runs":3\}/,
    /reminder "after: 1\.5" ran/,
    /cron result rejected: JR_ERR_JOB_CANCELLED/,
  ],
  'job-control': [
    /^while paused: 0 started$/m,
    /^after resume, in priority order: p1#1 p1#4 p2#2 p2#5 p3#0 p3#3$/m,
    /^resize progress: 100$/m,
    /^resize returned: "PNG 320x160"$/m,
    /^getJob: state=in progress node=worker_1 progress=\{"stage":"waiting for release"\}$/m,
    /^counts on worker_1: \{"running":1,"ready":0,"scheduled":1,"complete":0,"failed":0\}$/m,
    /^tick ran 3 times \(n=3\), final: true$/m,
    /^emails.send: 6 starts, spread over 200 ms or more: true$/m,
    /^JR_ERR_INVALID_ARGUMENT: unknown enqueue option 'delay': use 'after'/m,
  ],
  'child-process-nodes': [
    /node 'intruder' \(wrong secret\) refused: JR_ERR_AUTH_FAILED/,
    /8 thumbnails made: /,
    /worker_1 stopped on SIGTERM \(exit code 0\)/,
    /all 8 jobs of the batch completed/,
  ],
};

describe('examples - every example runs as a child process and exits 0', () => {
  it('examples - every folder under examples/ is covered here', () => {
    const folders = readdirSync(new URL('../examples/', import.meta.url), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(folders).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, lines] of Object.entries(EXPECTED)) {
    it(`examples - ${name}`, { timeout: 60_000 }, async () => {
      const run = await runExample(name, 45_000);
      expect(
        run.code,
        `${name} exit code\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`,
      ).toBe(0);
      for (const line of lines) expect(run.stdout).toMatch(line);
    });
  }

  it("examples - README's first TypeScript snippet is examples/quick-start/main.ts verbatim", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const snippet = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync(
      new URL('../examples/quick-start/main.ts', import.meta.url),
      'utf8',
    );
    expect(snippet).toBe(example);
  });
});
