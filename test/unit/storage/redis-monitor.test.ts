import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import type { Clock } from '../../../src/model/clock.ts';
import type { Feedback, JobRecord } from '../../../src/model/job.ts';
import { RedisMonitor } from '../../../src/storage/redis-monitor.ts';
import { RedisStorage } from '../../../src/storage/redis-storage.ts';
import {
  freePort,
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../../helpers/redis-server.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
const NOW = T0 + 3_600_000;
const fixedClock: Clock = { now: () => NOW, setTimer: () => ({}), clearTimer: () => {} };

function job(node: string, id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'send_email',
    args: { to: 'a@example.com' },
    distributor: 'dist-1',
    enqueuedAt: T0,
    runAt: T0,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: T0,
    runs: 0,
    updatedAt: T0,
    ...over,
  };
}

function failed(node: string, id: string): JobRecord {
  return job(node, id, {
    status: 'failed',
    attempt: 5,
    maxAttempt: 5,
    startedAt: T0 + 10,
    failedAt: T0 + 20,
    updatedAt: T0 + 20,
    lastError: { name: 'TimeoutError', code: 'JR_ERR_TIMEOUT', message: 'too slow' },
  });
}

function feedback(node: string, key: string): Feedback {
  return {
    key,
    jobId: key,
    distributor: 'dist-1',
    node,
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
  };
}

describe.skipIf(!redisAvailable())('redis monitor', () => {
  let server: RedisServer;
  let admin: Redis;
  let prefix = randomPrefix();
  const toClose: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });
  beforeEach(() => {
    prefix = randomPrefix();
  });
  afterEach(async () => {
    for (const c of toClose.splice(0).reverse()) await c.close();
  });

  async function storage(node: string): Promise<RedisStorage> {
    const s = new RedisStorage({ url: server.url, prefix });
    toClose.push(s);
    await s.open(node);
    return s;
  }

  function monitor(): RedisMonitor {
    const m = new RedisMonitor({ url: server.url, prefix, clock: fixedClock });
    toClose.push(m);
    return m;
  }

  it('redis monitor - nodes lists every node with its job and feedback counts', async () => {
    const a = await storage('a');
    const ba = await storage('ba');
    await storage('idle');
    await a.save(job('a', 'j1'));
    await a.save(job('a', 'j2'));
    await a.saveFeedback(feedback('a', 'f1'));
    await ba.save(job('ba', 'j1'));
    expect(await monitor().nodes()).toEqual([
      { name: 'a', jobs: 2, feedbacks: 1 },
      { name: 'ba', jobs: 1, feedbacks: 0 },
      { name: 'idle', jobs: 0, feedbacks: 0 },
    ]);
  });

  it('redis monitor - jobs lists one node sorted by id, with a status filter', async () => {
    const a = await storage('a');
    const ba = await storage('ba');
    await a.save(job('a', 'j3', { status: 'error' }));
    await a.save(failed('a', 'j1'));
    await a.save(job('a', 'j2'));
    await ba.save(job('ba', 'j0'));
    const m = monitor();
    expect((await m.jobs('a')).map((j) => j.id)).toEqual(['j1', 'j2', 'j3']);
    expect(await m.jobs('a', { status: 'failed' })).toStrictEqual([failed('a', 'j1')]);
    expect((await m.jobs('a', { status: ['new', 'error'] })).map((j) => j.id)).toEqual([
      'j2',
      'j3',
    ]);
    expect(await m.jobs('nobody')).toEqual([]);
    await expect(m.jobs('bad:name')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('redis monitor - load returns a record or undefined', async () => {
    const a = await storage('a');
    await a.save(failed('a', 'j1'));
    const m = monitor();
    expect(await m.load('a', 'j1')).toStrictEqual(failed('a', 'j1'));
    expect(await m.load('a', 'missing')).toBeUndefined();
    expect(await m.load('ba', 'j1')).toBeUndefined();
  });

  it('redis monitor - retry puts a failed job back to error, attempt 0, due now', async () => {
    const a = await storage('a');
    await a.save(failed('a', 'j1'));
    const retried = await monitor().retry('a', 'j1');
    const { failedAt: _gone, ...rest } = failed('a', 'j1');
    const expected: JobRecord = {
      ...rest,
      status: 'error',
      attempt: 0,
      dueAt: NOW,
      updatedAt: NOW,
    };
    expect(retried).toStrictEqual(expected);
    // What the node finds when it next starts (it resumes jobs in status `error`).
    expect(await a.load('j1')).toStrictEqual(expected);
    expect((await a.list({ status: 'error' })).map((j) => j.id)).toEqual(['j1']);
  });

  it('redis monitor - retry refuses a missing job or one that is not failed', async () => {
    const a = await storage('a');
    await a.save(job('a', 'waiting'));
    const m = monitor();
    await expect(m.retry('a', 'waiting')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(m.retry('a', 'missing')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await a.load('waiting'))?.status).toBe('new');
  });

  it('redis monitor - remove deletes one job of one node only', async () => {
    const a = await storage('a');
    const ba = await storage('ba');
    await a.save(job('a', 'j1'));
    await ba.save(job('ba', 'j1'));
    const m = monitor();
    expect(await m.remove('a', 'j1')).toBe(true);
    expect(await m.remove('a', 'j1')).toBe(false);
    expect(await a.load('j1')).toBeUndefined();
    expect(await ba.load('j1')).toBeDefined();
  });

  it("redis monitor - removeAll deletes one node's jobs and feedbacks, and forgets it", async () => {
    const a = await storage('a');
    const ba = await storage('ba');
    const ab = await storage('ab');
    for (const [s, n] of [
      [a, 'a'],
      [ba, 'ba'],
      [ab, 'ab'],
    ] as const) {
      await s.save(job(n, 'j1'));
      await s.save(job(n, 'j2'));
      await s.saveFeedback(feedback(n, 'f1'));
    }
    const m = monitor();
    expect(await m.removeAll('a')).toEqual({ jobs: 2, feedbacks: 1 });
    expect(await a.list()).toEqual([]);
    expect(await a.listFeedbacks()).toEqual([]);
    expect(await ba.list()).toHaveLength(2);
    expect(await ab.listFeedbacks()).toHaveLength(1);
    expect((await m.nodes()).map((n) => n.name)).toEqual(['ab', 'ba']);
    expect(await m.removeAll('a')).toEqual({ jobs: 0, feedbacks: 0 });
  });

  it('redis monitor - a client brought by the caller is used and not quit', async () => {
    const a = await storage('a');
    await a.save(job('a', 'j1'));
    const client = new Redis(server.url);
    try {
      const m = new RedisMonitor({ client, prefix });
      expect((await m.jobs('a')).map((j) => j.id)).toEqual(['j1']);
      await m.close();
      expect(client.status).toBe('ready');
    } finally {
      client.disconnect();
    }
  });

  it('redis monitor - unreachable Redis is a StorageError; closed is ClosedError', async () => {
    const port = await freePort();
    const m = new RedisMonitor({
      url: `redis://:pw-xyz@127.0.0.1:${port}`,
      connectTimeoutMs: 2000,
    });
    const err = await m.nodes().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('pw-xyz');
    await m.close();
    await m.close();
    await expect(m.nodes()).rejects.toBeInstanceOf(ClosedError);
    expect(() => new RedisMonitor({ prefix: 'a{b' })).toThrow(InvalidArgumentError);
  });

  it('redis monitor - no KEYS command was ever sent to this server', async () => {
    // Runs last in this file: covers every monitor call above.
    const stats = await admin.info('commandstats');
    expect(stats).toMatch(/cmdstat_sscan:/);
    expect(stats).not.toMatch(/cmdstat_keys:/);
  });
});
