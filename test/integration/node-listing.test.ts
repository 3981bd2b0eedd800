// Listing a durable node's jobs reads its own indexes and loads only the page's records:
// checked on a real redis-server by counting the commands the node sends it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRegistry, startDistributor, startNode, type JobInfo } from '../../src/index.ts';
import { redisAvailable, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { waitUntil } from '../helpers/wait.ts';

/** Calls of each Redis command so far (INFO commandstats). */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([a-z|]+):calls=(\d+)/.exec(line.trim());
    if (m) calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

describe.skipIf(!redisAvailable())('listing a durable node’s jobs', () => {
  let redis: RedisServer;
  let probe: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    probe = new Redis(redis.url);
  });
  afterAll(async () => {
    probe.disconnect();
    await redis.stop();
  });

  it('pages through 1,000 delayed jobs, running ones and a kept failure without a scan', async () => {
    const registry = new JobRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    registry.define('held', () => gate);
    registry.define('later', () => undefined);
    registry.define('broken', () => {
      throw new Error('no');
    });
    const d = await startDistributor({});
    const node = await startNode({
      name: 'lister',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry,
      storage: redis.url,
      redisPrefix: `jr-list-${process.pid}`,
      concurrency: 2,
      maxAttempt: 1,
      keep: { failed: { count: 10 } },
    });
    try {
      await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
      await d.enqueue('broken', {}).result.catch(() => undefined);
      const delayed = d.enqueueMany(
        Array.from({ length: 1000 }, (_, i) => ({
          job: 'later',
          args: { i },
          options: { after: 3600 },
        })),
      );
      await Promise.all(delayed.map((h) => h.accepted));
      const held = [d.enqueue('held', {}), d.enqueue('held', {}), d.enqueue('held', {})];
      await Promise.all(held.map((h) => h.accepted));
      await waitUntil(() => node.running === 2, 5000, 'two running');

      const before = await commandCalls(probe);
      const seen: JobInfo[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await d.listJobs({ state: 'new', limit: 100, ...(cursor ? { cursor } : {}) });
        seen.push(...page.jobs);
        cursor = page.next ?? undefined;
        pages++;
      } while (cursor !== undefined && pages < 20);
      const running = await d.listJobs({ state: 'in progress' });
      const failed = await d.listJobs({ state: 'failed' });
      const all = await d.listJobs({ limit: 10 });
      const after = await commandCalls(probe);

      // The 1,000 delayed jobs and the third `held` one, due and waiting for a slot.
      expect(pages).toBe(11);
      expect(new Set(seen.map((j) => j.id)).size).toBe(1001);
      expect(seen.every((j) => j.state === 'new')).toBe(true);
      expect(seen.filter((j) => j.name === 'later')).toHaveLength(1000);
      expect(seen[0]!.id).toBe(held[2]!.id);
      // Newest first, as their ids are time-ordered.
      const ids = seen.map((j) => j.id);
      expect([...ids].sort().reverse()).toEqual(ids);
      expect(running.jobs.map((j) => j.state)).toEqual(['in progress', 'in progress']);
      expect(failed.jobs).toHaveLength(1);
      expect(all.jobs).toHaveLength(10);
      // No scan of the job hash: only the pages' records were read, one by one.
      expect((after.get('hscan') ?? 0) - (before.get('hscan') ?? 0)).toBe(0);
      const loads = (after.get('hget') ?? 0) - (before.get('hget') ?? 0);
      expect(loads).toBeLessThan(1000 + 200);
    } finally {
      release();
      await node.stop();
      await d.close();
    }
  }, 60_000);
});
