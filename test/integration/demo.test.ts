import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));

/** `jobreactor demo …` as a user runs it (`npm run demo`), from source. */
function demo(args: string[]) {
  return spawnSync(process.execPath, [BIN, 'demo', '--quiet', ...args], {
    encoding: 'utf8',
    env: { ...process.env, JR_FROM_SOURCE: '1' },
    timeout: 90_000,
  });
}

describe('demo - the README quick start tour', () => {
  it(
    'demo - memory storage: 6/6 scenarios, the killed node’s jobs finish on the other',
    { timeout: 100_000 },
    () => {
      const r = demo([]);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/summary: 6\/6 scenarios passed/);
      expect(r.stdout).toMatch(/node killed mid-run: .*8\/8 finished/);
    },
  );

  it(
    'demo --storage lmdb:<dir>: the killed node is restarted and resumes its jobs',
    { timeout: 100_000 },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'jr-demo-'));
      try {
        const r = demo(['--storage', `lmdb:${dir}`]);
        expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/summary: 6\/6 scenarios passed/);
        expect(r.stdout).toMatch(/8 resumed by worker_1 from its storage, lost 0/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('demo --dashboard', () => {
  it(
    'demo --dashboard prints the dashboard address, serves it after the tour, and stops on SIGINT',
    { timeout: 100_000 },
    async () => {
      const child = spawn(process.execPath, [BIN, 'demo', '--quiet', '--dashboard'], {
        env: { ...process.env, JR_FROM_SOURCE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      try {
        const deadline = Date.now() + 90_000;
        while (!/the tour is over/.test(out) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
        expect(url, out).toBeDefined();
        const page = await fetch(url!);
        expect(page.status).toBe(200);
        expect(await page.text()).toMatch(/<html/i);
        const status = await fetch(`${url!}api/counts`);
        expect(status.status).toBe(200);
        child.kill('SIGINT');
        expect(await exited).toBe(0);
        expect(out).toMatch(/summary: 6\/6 scenarios passed/);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
});
