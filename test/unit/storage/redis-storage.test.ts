import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import { IdGenerator } from '../../../src/model/ids.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import { encodeRecord } from '../../../src/storage/record-codec.ts';
import { RedisMonitor } from '../../../src/storage/redis-monitor.ts';
import { RedisStorage } from '../../../src/storage/redis-storage.ts';
import { describeJobStorageConformance } from '../../conformance/job-storage.conformance.ts';
import {
  freePort,
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../../helpers/redis-server.ts';
import { finalFeedback } from '../../helpers/job-records.ts';
import { sleep, waitUntil } from '../../helpers/wait.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

/** A waiting job with tiny args, as a node stores it right after accepting it. */
function waitingJob(node: string, id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'send_email',
    args: { n: 1 },
    distributor: 'd41c8e2f0a9b7c63',
    enqueuedAt: T0,
    runAt: T0 + 60_000,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: T0 + 60_000,
    runs: 0,
    updatedAt: T0 + 3,
    ...over,
  };
}

/** Settles `promise`, or fails the test if it takes longer than `ms` (a hang). */
async function settleWithin<T>(ms: number, promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!redisAvailable())('redis storage', () => {
  let server: RedisServer;
  let admin: Redis;
  // One server per file, one prefix per test: every factory() call of a test shares both.
  let prefix = randomPrefix();
  const opened: RedisStorage[] = [];

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
    for (const s of opened.splice(0)) await s.close();
  });

  async function open(node: string, options: { prefix?: string } = {}): Promise<RedisStorage> {
    const storage = new RedisStorage({ url: server.url, prefix: options.prefix ?? prefix });
    opened.push(storage);
    await storage.open(node);
    return storage;
  }

  /** Every key under the test's prefix, by SCAN (tests only; the library never scans keys). */
  async function keysUnder(p: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await admin.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys.sort();
  }

  describeJobStorageConformance('RedisStorage', async () => ({
    storage: new RedisStorage({ url: server.url, prefix }),
    // The server is thrown away after the file and each test has its own prefix.
    cleanup: async () => {},
  }));

  it('redis storage - is durable and resumes after a reopen (a node restart)', async () => {
    const first = await open('restart-1');
    expect(first.durable).toBe(true);
    expect(first.available).toBe(true);
    await first.save(waitingJob('restart-1', 'j1'));
    await first.saveFeedback({
      key: 'j0',
      jobId: 'j0',
      distributor: 'd',
      node: 'restart-1',
      outcome: 'success',
      final: true,
      args: {},
      attempt: 1,
    });
    await first.close();
    expect(first.available).toBe(false);
    const second = await open('restart-1');
    expect(await second.load('j1')).toStrictEqual(waitingJob('restart-1', 'j1'));
    expect((await second.listFeedbacks()).map((f) => f.key)).toEqual(['j0']);
  });

  it('redis storage - writes of one turn apply as in their order (only the last per field counts), in any number', async () => {
    const s = await open('turn');
    const fb = (key: string) => ({
      key,
      jobId: key,
      distributor: 'd',
      node: 'turn',
      outcome: 'success' as const,
      final: true,
      args: {},
      attempt: 1,
    });
    await Promise.all([s.save(waitingJob('turn', 'keep')), s.saveFeedback(fb('gone'))]);
    // One turn: saved then removed, removed then saved, saved twice, finished after a save.
    const turn = [
      s.save(waitingJob('turn', 'saved-removed')),
      s.remove('saved-removed'),
      s.remove('keep'),
      s.save(waitingJob('turn', 'keep', { attempt: 2 })),
      s.save(waitingJob('turn', 'twice')),
      s.save(waitingJob('turn', 'twice', { status: 'in progress', attempt: 1 })),
      s.save(waitingJob('turn', 'finished')),
      s.finish('finished', undefined, fb('finished')),
      s.removeFeedback(['gone']),
      s.saveFeedback(fb('gone')),
      s.saveFeedback(fb('dropped')),
      s.removeFeedback(['dropped']),
    ];
    await Promise.all(turn);
    const jobs = await s.list();
    expect(jobs.map((j) => [j.id, j.status, j.attempt]).sort()).toEqual([
      ['keep', 'new', 2],
      ['twice', 'in progress', 1],
    ]);
    expect((await s.listFeedbacks()).map((f) => f.key).sort()).toEqual(['finished', 'gone']);
    // Far more fields in one turn than one Lua unpack takes (the script sends them in chunks),
    // and more writes than one batch holds (a full batch is sent at once, the rest follows).
    const many = Array.from({ length: 3000 }, (_, i) => `m${i}`);
    await Promise.all([
      ...many.map((id) => s.save(waitingJob('turn', id))),
      ...many.map((id) => s.saveFeedback(fb(id))),
    ]);
    expect(await admin.hlen(`${prefix}:{node:turn}:jobs`)).toBe(3002);
    await Promise.all([s.removeFeedback(many), ...many.map((id) => s.remove(id))]);
    expect((await s.list()).map((j) => j.id).sort()).toEqual(['keep', 'twice']);
    expect((await s.listFeedbacks()).map((f) => f.key).sort()).toEqual(['finished', 'gone']);
  });

  it('redis storage - feedback removals wait a little for another write to ride with; a later write of the key wins; close sends them', async () => {
    const s = await open('lazy');
    const fb = (key: string) => ({
      key,
      jobId: key,
      distributor: 'd',
      node: 'lazy',
      outcome: 'success' as const,
      final: true,
      args: {},
      attempt: 1,
    });
    await Promise.all(['a', 'b', 'c', 'd'].map((k) => s.saveFeedback(fb(k))));
    // Alone: it goes on its own, a few ms later.
    expect((await settleWithin(1000, s.removeFeedback(['a']))).status).toBe('fulfilled');
    expect((await s.listFeedbacks()).map((f) => f.key).sort()).toEqual(['b', 'c', 'd']);
    // Removed, then written again before it went: kept (as applying them in order would).
    const removed = s.removeFeedback(['b']);
    await new Promise<void>((r) => setImmediate(r));
    await s.saveFeedback(fb('b'));
    await removed;
    expect((await s.listFeedbacks()).map((f) => f.key).sort()).toEqual(['b', 'c', 'd']);
    // With another write: both in one batch.
    await Promise.all([s.removeFeedback(['c']), s.save(waitingJob('lazy', 'j'))]);
    expect((await s.listFeedbacks()).map((f) => f.key).sort()).toEqual(['b', 'd']);
    // Still waiting when the storage closes: sent before the lease is released.
    const last = s.removeFeedback(['d']);
    await s.close();
    await last;
    const again = await open('lazy');
    expect((await again.listFeedbacks()).map((f) => f.key)).toEqual(['b']);
  });

  it("redis storage - keys live under the prefix and share the node's hash tag", async () => {
    const nodes = ['a', 'ba', 'ab', 'n.1_x-Y'];
    for (const node of nodes) {
      const storage = await open(node);
      await storage.save(waitingJob(node, `${node}-job`));
      await storage.saveFeedback(finalFeedback(`${node}-job`, node, { key: `${node}-fb` }));
    }
    const keys = await keysUnder(prefix);
    const expected = [
      `${prefix}:nodes`,
      ...nodes.flatMap((n) => [
        `${prefix}:{node:${n}}:jobs`,
        `${prefix}:{node:${n}}:feedback`,
        `${prefix}:{node:${n}}:lease`,
      ]),
    ].sort();
    expect(keys).toEqual(expected);
    for (const key of keys) {
      if (key === `${prefix}:nodes`) continue;
      // Redis Cluster hashes the text between the first `{` and the next `}`.
      const tag = key.slice(key.indexOf('{') + 1, key.indexOf('}'));
      const node = /^node:(.+)$/.exec(tag)?.[1];
      expect(nodes).toContain(node);
      expect(key.startsWith(`${prefix}:{node:${node}}:`)).toBe(true);
    }
    expect((await admin.smembers(`${prefix}:nodes`)).sort()).toEqual([...nodes].sort());
  });

  it('redis storage - nodes a and ba never see each other (save, list, remove, removeAll)', async () => {
    const a = await open('a');
    const ba = await open('ba');
    await a.save(waitingJob('a', 'same'));
    await a.save(waitingJob('a', 'only-a'));
    await ba.save(waitingJob('ba', 'same', { args: { owner: 'ba' } }));
    await ba.save(waitingJob('ba', 'only-ba'));
    expect((await a.list()).map((j) => j.id).sort()).toEqual(['only-a', 'same']);
    expect((await ba.list()).map((j) => j.id).sort()).toEqual(['only-ba', 'same']);
    expect((await ba.load('same'))?.args).toEqual({ owner: 'ba' });

    await a.remove('same');
    expect(await ba.load('same')).toBeDefined();

    const monitor = new RedisMonitor({ url: server.url, prefix });
    try {
      expect(await monitor.removeAll('a')).toEqual({ jobs: 1, feedbacks: 0 });
      expect(await a.list()).toEqual([]);
      expect((await ba.list()).map((j) => j.id).sort()).toEqual(['only-ba', 'same']);
      expect((await monitor.nodes()).map((n) => n.name)).toEqual(['ba']);
    } finally {
      await monitor.close();
    }
  });

  it('redis storage - two prefixes on one server are separate worlds', async () => {
    const other = randomPrefix();
    const here = await open('same-node');
    const there = await open('same-node', { prefix: other });
    await here.save(waitingJob('same-node', 'j'));
    expect(await there.load('j')).toBeUndefined();
    expect(await there.list()).toEqual([]);
  });

  it('redis storage - bad options and names are InvalidArgumentError', async () => {
    for (const bad of ['', 'a{b}', 'a b', 'x*', 'p'.repeat(65)]) {
      expect(() => new RedisStorage({ url: server.url, prefix: bad })).toThrow(
        InvalidArgumentError,
      );
    }
    expect(() => new RedisStorage({ url: 'http://127.0.0.1:6379' })).toThrow(InvalidArgumentError);
    expect(() => new RedisStorage({ url: 'not a url' })).toThrow(InvalidArgumentError);
    expect(() => new RedisStorage({ connectTimeoutMs: 0 })).toThrow(InvalidArgumentError);
    const storage = new RedisStorage({ url: server.url, prefix });
    opened.push(storage);
    for (const bad of ['a:b', 'a}', '{a', 'a*', 'a b', '']) {
      await expect(storage.open(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await storage.open('fine');
    await expect(storage.open('fine')).rejects.toBeInstanceOf(StorageError);
    await expect(storage.save(waitingJob('other', 'j'))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('redis storage - a corrupt stored value rejects with StorageError naming the job', async () => {
    const storage = await open('corrupt');
    await admin.hset(`${prefix}:{node:corrupt}:jobs`, 'bad-1', Buffer.from([0xc1, 0xff, 0x00]));
    await admin.hset(`${prefix}:{node:corrupt}:jobs`, 'bad-2', Buffer.from([0x93, 1, 2, 3]));
    await expect(storage.load('bad-1')).rejects.toThrow(/bad-1/);
    await expect(storage.load('bad-2')).rejects.toBeInstanceOf(StorageError);
    await expect(storage.list()).rejects.toBeInstanceOf(StorageError);
  });

  it('redis storage - a client brought by the caller is used and not quit', async () => {
    const client = new Redis(server.url, { lazyConnect: true });
    try {
      const storage = new RedisStorage({ client, prefix });
      await storage.open('byo');
      await storage.save(waitingJob('byo', 'j1'));
      await storage.close();
      await expect(storage.load('j1')).rejects.toBeInstanceOf(ClosedError);
      expect(client.status).toBe('ready');
      expect(await client.hexists(`${prefix}:{node:byo}:jobs`, 'j1')).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('redis storage - unreachable Redis at open: StorageError naming the URL, no password', async () => {
    const port = await freePort(); // nothing listens there
    const storage = new RedisStorage({
      url: `redis://user:s3cret-pw@127.0.0.1:${port}/2`,
      connectTimeoutMs: 2000,
    });
    const settled = await settleWithin(4000, storage.open('n1'));
    expect(settled.status).toBe('rejected');
    const err = (settled as PromiseRejectedResult).reason as StorageError;
    expect(err).toBeInstanceOf(StorageError);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain('s3cret-pw');
    expect(storage.available).toBe(false);
    // The failed open left nothing running: it can be closed (or opened again).
    await storage.close();
    await expect(storage.load('x')).rejects.toBeInstanceOf(ClosedError);
  });

  it('redis storage - a Redis restarting at open: open keeps trying within connectTimeoutMs', async () => {
    const own = await startRedisServer();
    own.kill(); // refused from now on, until it is back on the same port
    const storage = new RedisStorage({ url: own.url, prefix, connectTimeoutMs: 5000 });
    try {
      const opening = storage.open('late-1');
      await sleep(600);
      await own.restart();
      const settled = await settleWithin(5000, opening);
      expect(settled.status).toBe('fulfilled');
      await storage.save(waitingJob('late-1', 'after'));
      expect((await storage.load('after'))?.id).toBe('after');
    } finally {
      await storage.close();
      await own.stop();
    }
  });

  it('redis storage - while open waits for Redis, its owner hears why: at the first failed try, then at most once a second', async () => {
    const own = await startRedisServer();
    own.kill();
    const storage = new RedisStorage({ url: own.url, prefix, connectTimeoutMs: 5000 });
    const told: { at: number; message: string }[] = [];
    storage.owner = {
      instance: 'waiting-owner',
      accepts: () => true,
      renewed: () => {},
      lost: () => {},
      vanished: () => {},
      adopted: () => {},
      unreachable: (message) => told.push({ at: Date.now(), message }),
    };
    try {
      const t0 = Date.now();
      const opening = storage.open('late-2');
      await sleep(2300);
      await own.restart();
      expect((await settleWithin(5000, opening)).status).toBe('fulfilled');
      expect(told.length).toBeGreaterThanOrEqual(2);
      expect(told.length).toBeLessThanOrEqual(4);
      // At the first failed try, not a second later (the once-a-second rule); the margin is
      // for a loaded machine, where the first try itself can start late (1032 ms seen in CI).
      expect(told[0]!.at - t0).toBeLessThan(1500);
      for (let i = 1; i < told.length; i++) {
        expect(told[i]!.at - told[i - 1]!.at).toBeGreaterThanOrEqual(990);
      }
      expect(told[0]!.message).toMatch(
        /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ yet \(.*\): still trying for \d+ ms$/,
      );
    } finally {
      await storage.close();
      await own.stop();
    }
  });

  it('redis storage - a wrong password fails open at once, without waiting for the deadline', async () => {
    const own = await startRedisServer();
    const admin = new Redis(own.url);
    await admin.config('SET', 'requirepass', 'the-password');
    admin.disconnect();
    const url = own.url.replace('redis://', 'redis://:not-the-password@');
    const storage = new RedisStorage({ url, prefix, connectTimeoutMs: 20_000 });
    try {
      const t0 = Date.now();
      const settled = await settleWithin(10_000, storage.open('pw-1'));
      expect(settled.status).toBe('rejected');
      expect((settled as PromiseRejectedResult).reason).toBeInstanceOf(StorageError);
      // Not retried as if Redis were away: well before the 20 s deadline.
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await storage.close();
      await own.stop();
    }
  });

  it('redis storage - a server that accepts but never answers: open gives up in time', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never replies
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const storage = new RedisStorage({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 });
    try {
      const settled = await settleWithin(3000, storage.open('n1'));
      expect(settled.status).toBe('rejected');
      const err = (settled as PromiseRejectedResult).reason as Error;
      expect(err).toBeInstanceOf(StorageError);
      expect(err.message).toContain(`redis://127.0.0.1:${port}`);
    } finally {
      await storage.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('redis storage - Redis killed mid-run: calls fail fast, available follows, then recovers', async () => {
    const own = await startRedisServer();
    const storage = new RedisStorage({ url: own.url, prefix, connectTimeoutMs: 2000 });
    const changes: boolean[] = [];
    storage.onStatusChange = (up) => changes.push(up);
    try {
      await storage.open('crash-1');
      await storage.save(waitingJob('crash-1', 'before'));
      expect(storage.available).toBe(true);

      // Saves in flight when the server dies settle (resolved or StorageError), none hangs.
      const inFlight = Array.from({ length: 20 }, (_, i) =>
        storage.save(waitingJob('crash-1', `inflight-${i}`)),
      );
      own.kill();
      const results = await settleWithin(8000, Promise.allSettled(inFlight));
      expect(results.status).toBe('fulfilled');
      for (const r of (results as PromiseFulfilledResult<PromiseSettledResult<void>[]>).value) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StorageError);
      }

      const during = await settleWithin(8000, storage.save(waitingJob('crash-1', 'during')));
      expect(during.status).toBe('rejected');
      expect((during as PromiseRejectedResult).reason).toBeInstanceOf(StorageError);
      await waitUntil(() => !storage.available, 5000, 'available to turn false');
      const listed = await settleWithin(8000, storage.list());
      expect((listed as PromiseRejectedResult).reason).toBeInstanceOf(StorageError);

      await own.restart();
      await waitUntil(() => storage.available, 10_000, 'available to turn true');
      await storage.save(waitingJob('crash-1', 'after'));
      // The restarted server has no persistence: only what was saved after it is there.
      expect((await storage.list()).map((j) => j.id)).toEqual(['after']);
      expect(changes[0]).toBe(false);
      expect(changes.at(-1)).toBe(true);
    } finally {
      await storage.close();
      await own.stop();
    }
  });

  it('redis storage - memory per waiting job with tiny args (printed)', async () => {
    const node = 'worker-17';
    const storage = await open(node);
    const ids = new IdGenerator();
    const count = 10_000;
    const key = `${prefix}:{node:${node}}:jobs`;
    const usedBefore = usedMemory(await admin.info('memory'));
    for (let i = 0; i < count; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, j) => {
          const id = ids.next(T0 + i + j);
          return storage.save(waitingJob(node, id, { enqueuedAt: T0 + i, updatedAt: T0 + i + 1 }));
        }),
      );
    }
    const usedAfter = usedMemory(await admin.info('memory'));
    const keyBytes = Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const perJob = keyBytes / count;
    const blob = encodeRecord(waitingJob(node, ids.next(T0))).length;
    console.log(
      `[redis storage] ${count} waiting jobs: MEMORY USAGE ${perJob.toFixed(1)} B/job, ` +
        `used_memory delta ${((usedAfter - usedBefore) / count).toFixed(1)} B/job, ` +
        `encoded record ${blob} B (UUIDv7 id, args {n:1})`,
    );
    expect(await admin.hlen(key)).toBe(count);
    expect(perJob).toBeLessThanOrEqual(200);
  });

  it('redis storage - no KEYS command was ever sent to this server', async () => {
    // Runs last in this file: covers the conformance suite and every test above.
    const stats = await admin.info('commandstats');
    expect(stats).toMatch(/cmdstat_hscan:/);
    expect(stats).not.toMatch(/cmdstat_keys:/);
  });
});

function usedMemory(info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}
