import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DuplicateNodeError, LeaseLostError } from '../../../src/errors.ts';
import type { Feedback, JobRecord } from '../../../src/model/job.ts';
import type { StorageOwner } from '../../../src/storage/job-storage.ts';
import { encodeRecord } from '../../../src/storage/record-codec.ts';
import { RedisStorage, type RedisStorageOptions } from '../../../src/storage/redis-storage.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import {
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../../helpers/redis-server.ts';
import { sleep, waitUntil } from '../../helpers/wait.ts';

const T0 = Date.UTC(2026, 0, 1);

function job(node: string, id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'known',
    args: {},
    distributor: 'd1',
    enqueuedAt: T0,
    runAt: T0 + 60_000,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: T0 + 60_000,
    runs: 0,
    updatedAt: T0,
    ...over,
  };
}

function feedback(node: string, key: string): Feedback {
  return {
    key,
    jobId: key,
    distributor: 'd1',
    node,
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
  };
}

/** A StorageOwner that records what it is told. */
function recordingOwner(instance: string) {
  const calls: { event: string; args: unknown[] }[] = [];
  const owner: StorageOwner = {
    instance,
    accepts: (name) => name === 'known',
    renewed: () => calls.push({ event: 'renewed', args: [] }),
    lost: (holder) => calls.push({ event: 'lost', args: [holder] }),
    vanished: (dataLost) => calls.push({ event: 'vanished', args: [dataLost] }),
    adopted: (from, records, feedbacks) =>
      calls.push({ event: 'adopted', args: [from, records, feedbacks] }),
  };
  return { owner, calls, events: () => calls.map((c) => c.event) };
}

describe.skipIf(!redisAvailable())('redis lease', () => {
  let server: RedisServer;
  let admin: Redis;
  let prefix = randomPrefix();
  const opened: RedisStorage[] = [];
  const clients: Redis[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const c of clients.splice(0)) c.disconnect();
    prefix = randomPrefix();
  });

  function storage(options: RedisStorageOptions = {}, owner?: StorageOwner): RedisStorage {
    const s = new RedisStorage({ url: server.url, prefix, ...options });
    if (owner) s.owner = owner;
    opened.push(s);
    return s;
  }

  const leaseKey = (node: string) => `${prefix}:{node:${node}}:lease`;

  it('redis lease - open takes the lease: token + holder facts, PX = TTL; close releases it', async () => {
    const a = storage({ leaseTtlMs: 4000 }, recordingOwner('inst-a').owner);
    await a.open('n1');
    const value = (await admin.get(leaseKey('n1')))!;
    expect(value).toMatch(/^[0-9a-f]{32}\|/);
    const holder = JSON.parse(value.slice(33)) as unknown[];
    expect(holder.slice(0, 3)).toEqual(['node', 'n1', 'inst-a']);
    expect(holder[5]).toBe(process.pid);
    expect(holder[6]).toBe(hostname());
    const ttl = await admin.pttl(leaseKey('n1'));
    expect(ttl).toBeGreaterThan(3000);
    expect(ttl).toBeLessThanOrEqual(4000);
    expect(a.leaseValid).toBe(true);
    await a.close();
    expect(await admin.exists(leaseKey('n1'))).toBe(0);
  });

  it('redis lease - a second live storage with the same name fails with DuplicateNodeError naming the holder', async () => {
    const a = storage({}, recordingOwner('inst-a').owner);
    await a.open('twin');
    const b = storage({}, recordingOwner('inst-b').owner);
    const err = await b.open('twin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicateNodeError);
    expect((err as DuplicateNodeError).code).toBe('JR_ERR_DUPLICATE_NODE');
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect((err as Error).message).toContain(`host ${hostname()}`);
    expect((err as Error).message).toContain('instance inst-a');
    // The first one is untouched and keeps writing.
    await a.save(job('twin', 'j1'));
    expect(a.leaseValid).toBe(true);
    expect(b.leaseValid).toBe(false);
  });

  it('redis lease - every write is fenced: a foreign token makes each one fail with LeaseLostError, nothing written', async () => {
    const a = storage();
    await a.open('fenced');
    await a.save(job('fenced', 'kept'));
    await a.saveFeedback(feedback('fenced', 'fb-kept'));
    await admin.set(leaseKey('fenced'), `${'f'.repeat(32)}|["node","fenced","other",1,"x",1,"h"]`);
    const writes: [string, () => Promise<unknown>][] = [
      ['save', () => a.save(job('fenced', 'new'))],
      ['remove', () => a.remove('kept')],
      ['finish', () => a.finish('kept', undefined, feedback('fenced', 'fb-new'))],
      ['finish+save', () => a.finish('kept', job('fenced', 'kept'), feedback('fenced', 'fb-2'))],
      ['saveFeedback', () => a.saveFeedback(feedback('fenced', 'fb-3'))],
      ['removeFeedback', () => a.removeFeedback(['fb-kept'])],
    ];
    for (const [what, write] of writes) {
      const err = await write().catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(LeaseLostError);
      expect((err as LeaseLostError).code).toBe('JR_ERR_LEASE_LOST');
    }
    expect(await admin.hkeys(`${prefix}:{node:fenced}:jobs`)).toEqual(['kept']);
    expect(await admin.hkeys(`${prefix}:{node:fenced}:feedback`)).toEqual(['fb-kept']);
    // The key gone entirely (not ours either): refused too.
    await admin.del(leaseKey('fenced'));
    await expect(a.save(job('fenced', 'new'))).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('redis lease - a holder whose connection is gone is replaced at once; its renewal then reports it lost', async () => {
    const a = recordingOwner('inst-a');
    const first = storage({ leaseTtlMs: 60_000 }, a.owner);
    await first.open('phoenix');
    // The old process's connection dies without releasing (kill -9 of the node process).
    const id = Number(
      /id=(\d+)/.exec(
        ((await admin.client('LIST')) as string)
          .split('\n')
          .find((l) => l.includes('name=jobreactor:phoenix'))!,
      )![1],
    );
    await admin.client('KILL', 'ID', String(id));
    const started = Date.now();
    const second = storage({ leaseTtlMs: 60_000 }, recordingOwner('inst-b').owner);
    await second.open('phoenix');
    expect(Date.now() - started).toBeLessThan(5000); // did not wait out the 60 s TTL
    expect(await admin.get(leaseKey('phoenix'))).toContain('inst-b');
    await second.save(job('phoenix', 'j'));
    // The first storage reconnects; its next renewal finds another token.
    await waitUntil(() => first.available, 5000, 'first storage to reconnect');
    await first.renewLease();
    expect(a.events()).toContain('lost');
    expect(String(a.calls.find((c) => c.event === 'lost')?.args[0])).toContain('inst-b');
    expect(first.leaseValid).toBe(false);
    await expect(first.save(job('phoenix', 'stale'))).rejects.toBeInstanceOf(LeaseLostError);
    // Closing the loser leaves the winner's lease alone.
    await first.close();
    expect(await admin.get(leaseKey('phoenix'))).toContain('inst-b');
  });

  it('redis lease - frozen past the TTL (fake clock): not trusted until a renewal succeeds', async () => {
    const clock = new FakeClock(Date.now());
    const o = recordingOwner('inst');
    const s = storage({ leaseTtlMs: 30_000, clock }, o.owner);
    await s.open('sleeper');
    expect(s.leaseValid).toBe(true);
    clock.jump(29_999);
    expect(s.leaseValid).toBe(true);
    clock.jump(2);
    expect(s.leaseValid).toBe(false);
    await s.renewLease();
    expect(s.leaseValid).toBe(true);
    expect(o.events()).toEqual(['renewed']);
  });

  it('redis lease - key expired while frozen: taken again, reported as vanished without data loss', async () => {
    const clock = new FakeClock(Date.now());
    const o = recordingOwner('inst');
    const s = storage({ leaseTtlMs: 150, clock }, o.owner);
    await s.open('frozen');
    await sleep(300); // the key expires in Redis; the fake clock never fired a renewal
    clock.jump(1000);
    expect(s.leaseValid).toBe(false);
    await s.renewLease();
    expect(o.calls.filter((c) => c.event === 'vanished').map((c) => c.args[0])).toEqual([false]);
    expect(s.leaseValid).toBe(true);
  });

  it('redis lease - key gone while trusted (FLUSHALL): reported as data lost, lease taken again', async () => {
    const o = recordingOwner('inst');
    const s = storage({ leaseTtlMs: 60_000 }, o.owner);
    await s.open('flushed');
    await s.save(job('flushed', 'j'));
    await admin.flushall();
    await s.renewLease();
    expect(o.calls.filter((c) => c.event === 'vanished').map((c) => c.args[0])).toEqual([true]);
    expect(await admin.get(leaseKey('flushed'))).toContain('inst');
    await s.save(job('flushed', 'after'));
  });

  it('redis lease - takeover: live, unpinned jobs of known names and all feedbacks move; the rest stays', async () => {
    const dead = storage();
    await dead.open('dead');
    await dead.save(job('dead', 'waiting'));
    await dead.save(job('dead', 'running', { status: 'in progress', attempt: 1, delivery: 2 }));
    await dead.save(job('dead', 'pinned', { pinned: true }));
    await dead.save(job('dead', 'unknown', { name: 'other' }));
    await dead.save(job('dead', 'done', { status: 'complete' }));
    await dead.saveFeedback(feedback('dead', 'fb-1'));
    await dead.close(); // released: the same as a lease that expired
    const o = recordingOwner('inst-live');
    const live = storage({}, o.owner);
    await live.open('live');
    // The distributor re-sent one job to the live node before it adopted: that copy wins.
    await admin.hset(`${prefix}:{node:dead}:jobs`, 'resent', encodeRecord(job('dead', 'resent')));
    await live.save(job('live', 'resent', { delivery: 2, args: { mine: true } }));
    await live.scanForDeadNodes();
    const adopted = o.calls.find((c) => c.event === 'adopted');
    expect(adopted?.args[0]).toBe('dead');
    const records = adopted!.args[1] as JobRecord[];
    expect(records.map((r) => r.id).sort()).toEqual(['running', 'waiting']);
    expect((await live.load('resent'))?.args).toEqual({ mine: true });
    const running = records.find((r) => r.id === 'running')!;
    expect(running).toMatchObject({ node: 'live', delivery: 3, crashes: 1, crashedOn: ['dead'] });
    expect(records.find((r) => r.id === 'waiting')).toMatchObject({ node: 'live', delivery: 2 });
    expect((adopted!.args[2] as Feedback[]).map((f) => f.key)).toEqual(['fb-1']);
    expect((await admin.hkeys(`${prefix}:{node:dead}:jobs`)).sort()).toEqual([
      'done',
      'pinned',
      'unknown',
    ]);
    expect((await live.list()).map((r) => r.id).sort()).toEqual(['resent', 'running', 'waiting']);
    expect((await live.listFeedbacks()).map((f) => f.key)).toEqual(['fb-1']);
    expect(await admin.exists(leaseKey('dead'))).toBe(0); // adopting lease released
    // Nothing left to adopt: the next scan moves nothing and tells nobody.
    await live.scanForDeadNodes();
    expect(o.events().filter((e) => e === 'adopted')).toHaveLength(1);
    // A node restarting under the dead name works normally with what stayed.
    const back = storage();
    await back.open('dead');
    expect((await back.list()).map((r) => r.id).sort()).toEqual(['done', 'pinned', 'unknown']);
  });

  it('redis lease - two adopters at once never move the same job', async () => {
    const dead = storage();
    await dead.open('gone');
    for (let i = 0; i < 500; i++) await dead.save(job('gone', `j${i}`));
    await dead.close();
    const b = recordingOwner('b');
    const c = recordingOwner('c');
    const sb = storage({}, b.owner);
    const sc = storage({}, c.owner);
    await sb.open('peer-b');
    await sc.open('peer-c');
    await Promise.all([sb.scanForDeadNodes(), sc.scanForDeadNodes()]);
    const ids = (o: ReturnType<typeof recordingOwner>) =>
      o.calls
        .filter((x) => x.event === 'adopted')
        .flatMap((x) => (x.args[1] as JobRecord[]).map((r) => r.id));
    const all = [...ids(b), ...ids(c)];
    expect(all).toHaveLength(500);
    expect(new Set(all).size).toBe(500);
    expect(await admin.hlen(`${prefix}:{node:gone}:jobs`)).toBe(0);
  });

  it('redis lease - scripts the server lost (SCRIPT FLUSH, a restart) are loaded again on first use', async () => {
    const s = storage();
    await s.open('forgetful');
    await admin.script('FLUSH');
    await s.save(job('forgetful', 'j1'));
    await admin.script('FLUSH');
    await s.renewLease(); // fails with NOSCRIPT once, and loads them for the next tick
    await s.renewLease();
    expect(s.leaseValid).toBe(true);
    expect((await s.list()).map((r) => r.id)).toEqual(['j1']);
  });

  it('redis lease - a name whose lease is live is not adopted', async () => {
    const alive = storage();
    await alive.open('alive');
    await alive.save(job('alive', 'j'));
    const o = recordingOwner('x');
    const other = storage({}, o.owner);
    await other.open('other');
    await other.scanForDeadNodes();
    expect(o.events()).not.toContain('adopted');
    expect(await alive.list()).toHaveLength(1);
  });
});
