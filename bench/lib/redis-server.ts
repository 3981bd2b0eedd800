import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../test/helpers/redis-server.ts';

/**
 * The bench's own redis-server: the test harness's (loopback, a free port, no
 * persistence, as in the reference figures), plus what the bench reads from it.
 */
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

/** Starts it (`JR_REDIS_SERVER` or `REDIS_SERVER=/path` picks the binary). */
export async function startRedis(): Promise<BenchRedis> {
  const server = await startRedisServer();
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  return {
    url: server.url,
    version,
    client,
    cpuMicros() {
      try {
        // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
        const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8');
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
      if (process.env.BENCH_CMDSTATS) {
        const stats = await client.info('commandstats').catch(() => '');
        process.stderr.write(`redis commandstats:\n${stats}\n`);
      }
      client.disconnect();
      await server.stop();
    },
  };
}
