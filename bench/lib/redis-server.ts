import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from './clock.ts';

/** The bench's own redis-server: loopback, a free port, no persistence (as in the reference figures). */
export interface BenchRedis {
  url: string;
  version: string;
  client: Redis;
  /** CPU time redis-server used so far, µs (from /proc; NaN where there is none). */
  cpuMicros(): number;
  usedMemory(): Promise<number>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(
  bin = process.env.REDIS_SERVER ?? 'redis-server',
): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'jr-bench-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start ${bin}: ${err.message}`))),
  );
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await Promise.race([client.connect().then(() => client.ping()), spawnError]);
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        kill();
        throw new Error(`redis-server did not start: ${String(err)} ${stderr}`);
      }
      client.disconnect();
      await sleep(50);
    }
  }
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  return {
    url,
    version,
    client,
    cpuMicros() {
      try {
        // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10_000;
      } catch {
        return NaN;
      }
    },
    async usedMemory() {
      const m = await client.info('memory');
      return Number(/used_memory:(\d+)/.exec(m)?.[1] ?? NaN);
    },
    async flush() {
      await client.flushall();
    },
    async stop() {
      client.disconnect();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      process.off('exit', kill);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
