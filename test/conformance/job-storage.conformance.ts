import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { JobReactorError } from '../../src/errors.ts';
import type { Feedback, JobRecord } from '../../src/model/job.ts';
import { JobStatus } from '../../src/model/job.ts';
import type { JobStorage } from '../../src/storage/job-storage.ts';

/** What a storage test file passes in: a fresh, unopened storage and how to dispose of it. */
export type JobStorageFactory = () => Promise<{ storage: JobStorage; cleanup(): Promise<void> }>;

/**
 * The behaviour every `JobStorage` must have. Call it from a backend's test file:
 *
 * ```ts
 * describeJobStorageConformance('memory', async () => ({
 *   storage: new MemoryStorage(),
 *   cleanup: async () => {},
 * }));
 * ```
 *
 * For a shared backend (Redis), every `factory()` call must reach the SAME backend (same
 * server, same key prefix): node isolation is tested by opening several storages from
 * separate `factory()` calls with node names that collide as glob patterns (`a`, `ba`,
 * `ab`). Every test opens its storages with fresh random node names, so leftovers of an
 * earlier test (or run) never interfere. The suite closes each storage it opened, then
 * calls `cleanup()`.
 */
export function describeJobStorageConformance(label: string, factory: JobStorageFactory): void {
  describe(`${label} storage - conformance`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** A factory-made storage, not opened yet; closed and cleaned up after the test. */
    async function create(): Promise<JobStorage> {
      const made = await factory();
      cleanups.push(async () => {
        await made.storage.close().catch(() => undefined);
        await made.cleanup();
      });
      return made.storage;
    }

    /** A factory-made storage opened for a fresh node; returns it with the node name. */
    async function opened(node = uniqueNodeName()): Promise<{ storage: JobStorage; node: string }> {
      const storage = await create();
      await storage.open(node);
      return { storage, node };
    }

    it(`${label} storage - durable is a boolean`, async () => {
      const storage = await create();
      expect(typeof storage.durable).toBe('boolean');
    });

    it(`${label} storage - save then load round-trips every field`, async () => {
      const { storage, node } = await opened();
      const full = fullRecord(node);
      await storage.save(full);
      expect(await storage.load(full.id)).toStrictEqual(full);
    });

    it(`${label} storage - a record without optional fields comes back without them`, async () => {
      const { storage, node } = await opened();
      const minimal = minimalRecord(node, 'minimal-1');
      await storage.save(minimal);
      const loaded = await storage.load(minimal.id);
      expect(loaded).toStrictEqual(minimal);
      for (const key of ['period', 'cron', 'tz', 'backoff', 'lastError', 'startedAt'] as const) {
        expect(loaded).not.toHaveProperty(key);
      }
    });

    it(`${label} storage - every backoff shape round-trips`, async () => {
      const { storage, node } = await opened();
      const shapes: NonNullable<JobRecord['backoff']>[] = [
        { type: 'fixed', delay: 1500 },
        { type: 'linear', delay: 250 },
        { type: 'exponential', delay: 100 },
        { type: 'exponential', delay: 100, maxDelay: 60_000, jitter: 0.5 },
      ];
      for (const [i, backoff] of shapes.entries()) {
        await storage.save({ ...minimalRecord(node, `backoff-${i}`), backoff });
      }
      for (const [i, backoff] of shapes.entries()) {
        expect((await storage.load(`backoff-${i}`))?.backoff).toStrictEqual(backoff);
      }
    });

    it(`${label} storage - nested and unicode args round-trip`, async () => {
      const { storage, node } = await opened();
      const args = {
        'ключ 🔑': 'значение',
        text: '日本語 — émoji 🚀 e\u0301 \u0000 tab\t newline\n',
        nested: { deep: { deeper: [1, 'two', { three: [null, true, false] }] } },
        numbers: [0, -1, 1.5, -0.25, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
        empty: { string: '', array: [], object: {} },
        nothing: null,
      };
      const record = { ...minimalRecord(node, 'unicode-ü-1'), args };
      await storage.save(record);
      expect(await storage.load(record.id)).toStrictEqual(record);
    });

    it(`${label} storage - large args (about 1 MB) round-trip`, async () => {
      const { storage, node } = await opened();
      const items = Array.from({ length: 5_000 }, (_, i) => ({ i, label: `item-${i}` }));
      const args = { blob: 'x'.repeat(900_000) + 'ż', items };
      const record = { ...minimalRecord(node, 'large-1'), args };
      await storage.save(record);
      expect(await storage.load(record.id)).toStrictEqual(record);
    });

    it(`${label} storage - save is an upsert by id`, async () => {
      const { storage, node } = await opened();
      const first = minimalRecord(node, 'upsert-1');
      await storage.save(first);
      const second: JobRecord = {
        ...first,
        status: JobStatus.Error,
        attempt: 2,
        args: { replaced: true },
        lastError: { name: 'TimeoutError', code: 'JR_ERR_TIMEOUT', message: 'too slow' },
        updatedAt: first.updatedAt + 1,
      };
      await storage.save(second);
      expect(await storage.load(first.id)).toStrictEqual(second);
      expect(await storage.list()).toHaveLength(1);
    });

    it(`${label} storage - load of a missing id is undefined`, async () => {
      const { storage } = await opened();
      expect(await storage.load('no-such-job')).toBeUndefined();
    });

    it(`${label} storage - remove deletes, and is idempotent`, async () => {
      const { storage, node } = await opened();
      await storage.save(minimalRecord(node, 'remove-1'));
      await storage.save(minimalRecord(node, 'remove-2'));
      await storage.remove('remove-1');
      expect(await storage.load('remove-1')).toBeUndefined();
      await storage.remove('remove-1');
      await storage.remove('never-existed');
      expect(ids(await storage.list())).toEqual(['remove-2']);
    });

    it(`${label} storage - list with and without status filters`, async () => {
      const { storage, node } = await opened();
      const statuses = [
        JobStatus.New,
        JobStatus.InProgress,
        JobStatus.Queued,
        JobStatus.Error,
        JobStatus.Complete,
        JobStatus.Failed,
        JobStatus.Cancelled,
      ];
      for (const status of statuses) {
        await storage.save({ ...minimalRecord(node, `list-${status.replace(' ', '-')}`), status });
      }
      expect(await storage.list()).toHaveLength(statuses.length);
      expect(ids(await storage.list({}))).toHaveLength(statuses.length);
      expect(ids(await storage.list({ status: JobStatus.Error }))).toEqual(['list-error']);
      expect(ids(await storage.list({ status: [JobStatus.New, JobStatus.Queued] }))).toEqual([
        'list-new',
        'list-queued',
      ]);
      expect(ids(await storage.list({ status: [JobStatus.InProgress] }))).toEqual([
        'list-in-progress',
      ]);
      expect(await storage.list({ status: [] })).toEqual([]);
      const listed = await storage.list({ status: JobStatus.Failed });
      expect(listed[0]).toStrictEqual({ ...minimalRecord(node, 'list-failed'), status: 'failed' });
    });

    it(`${label} storage - list on an empty node is empty`, async () => {
      const { storage } = await opened();
      expect(await storage.list()).toEqual([]);
      expect(await storage.listFeedbacks()).toEqual([]);
    });

    it(`${label} storage - returned records are copies`, async () => {
      const { storage, node } = await opened();
      const record = fullRecord(node);
      const pristine = structuredClone(record);
      await storage.save(record);

      // Mutating what was saved does not reach the store.
      record.status = JobStatus.Failed;
      record.args.added = 1;
      delete record.args.url;
      expect(await storage.load(record.id)).toStrictEqual(pristine);

      // Mutating what was loaded or listed does not either.
      const loaded = (await storage.load(record.id))!;
      loaded.attempt = 99;
      loaded.args.url = 'changed';
      loaded.args.added = true;
      loaded.lastError!.message = 'changed';
      const [listed] = await storage.list();
      listed!.args.url = 'changed by list';
      listed!.dueAt = 0;
      expect(await storage.load(record.id)).toStrictEqual(pristine);
    });

    it(`${label} storage - feedback outbox: save, list, upsert by key, remove`, async () => {
      const { storage, node } = await opened();
      const success = feedback(node, 'job-1', 'success');
      const error: Feedback = {
        ...feedback(node, 'job-2', 'error'),
        error: { name: 'JobThrewError', code: 'JR_ERR_JOB_THREW', message: 'boom ✗' },
        args: { nested: { list: [1, 2, 3] }, error: { name: 'E', code: 'C', message: 'm' } },
      };
      const cancel: Feedback = { ...feedback(node, 'job-3', 'cancelled'), inErrback: true };
      await storage.saveFeedback(success);
      await storage.saveFeedback(error);
      await storage.saveFeedback(cancel);
      expect(byKey(await storage.listFeedbacks())).toStrictEqual([success, error, cancel]);

      const replaced: Feedback = { ...success, final: true, attempt: 3, args: { again: 1 } };
      await storage.saveFeedback(replaced);
      expect(byKey(await storage.listFeedbacks())).toStrictEqual([replaced, error, cancel]);

      await storage.removeFeedback([error.key]);
      await storage.removeFeedback([error.key]);
      await storage.removeFeedback(['never-existed']);
      expect(byKey(await storage.listFeedbacks())).toStrictEqual([replaced, cancel]);
    });

    it(`${label} storage - finish saves or removes the job and keeps its feedback`, async (ctx) => {
      const { storage, node } = await opened();
      if (storage.finish === undefined) return ctx.skip();
      await storage.save(minimalRecord(node, 'kept'));
      await storage.save(minimalRecord(node, 'gone'));
      const done: JobRecord = { ...minimalRecord(node, 'kept'), status: JobStatus.Complete };
      const fbKept = feedback(node, 'kept', 'success');
      const fbGone = feedback(node, 'gone', 'error');
      await storage.finish('kept', done, fbKept);
      await storage.finish('gone', undefined, fbGone);
      expect(await storage.load('kept')).toStrictEqual(done);
      expect(await storage.load('gone')).toBeUndefined();
      expect(byKey(await storage.listFeedbacks())).toStrictEqual(byKey([fbKept, fbGone]));
    });

    it(`${label} storage - removeFeedback takes several keys at once`, async () => {
      const { storage, node } = await opened();
      const fbs = ['a', 'b', 'c'].map((id) => feedback(node, id, 'success'));
      for (const fb of fbs) await storage.saveFeedback(fb);
      await storage.removeFeedback([fbs[0]!.key, fbs[2]!.key, 'never-existed']);
      await storage.removeFeedback([]);
      expect(await storage.listFeedbacks()).toStrictEqual([fbs[1]]);
    });

    it(`${label} storage - removeFeedback of 200k keys in one call (more than a call takes as arguments)`, async () => {
      const { storage, node } = await opened();
      const fbs = ['a', 'b', 'c'].map((id) => feedback(node, id, 'success'));
      for (const fb of fbs) await storage.saveFeedback(fb);
      const keys = Array.from({ length: 200_000 }, (_, i) => `never-${i}`);
      keys[1234] = fbs[0]!.key;
      keys[199_999] = fbs[2]!.key;
      await storage.removeFeedback(keys);
      expect(await storage.listFeedbacks()).toStrictEqual([fbs[1]]);
    });

    it(`${label} storage - feedbacks and jobs are kept apart`, async () => {
      const { storage, node } = await opened();
      await storage.save(minimalRecord(node, 'shared-id'));
      await storage.saveFeedback({ ...feedback(node, 'shared-id', 'success'), key: 'shared-id' });
      await storage.removeFeedback(['shared-id']);
      expect(await storage.load('shared-id')).toBeDefined();
      await storage.saveFeedback({ ...feedback(node, 'shared-id', 'success'), key: 'shared-id' });
      await storage.remove('shared-id');
      expect(await storage.listFeedbacks()).toHaveLength(1);
    });

    it(`${label} storage - returned feedbacks are copies`, async () => {
      const { storage, node } = await opened();
      const fb: Feedback = {
        ...feedback(node, 'job-9', 'error'),
        error: { name: 'E', code: 'C', message: 'm' },
      };
      const pristine = structuredClone(fb);
      await storage.saveFeedback(fb);
      fb.args.added = 1;
      const [listed] = await storage.listFeedbacks();
      listed!.args.more = 2;
      listed!.error!.message = 'changed';
      listed!.final = false;
      expect(await storage.listFeedbacks()).toStrictEqual([pristine]);
    });

    it(`${label} storage - nodes never see each other's jobs or feedbacks`, async () => {
      // Names that collide as glob patterns (prefix and suffix) if keys are built carelessly.
      const base = `a${randomSuffix()}`;
      const names = [base, `b${base}`, `${base}b`];
      const stores = [];
      for (const name of names) stores.push(await opened(name));

      for (const [i, { storage, node }] of stores.entries()) {
        await storage.save({ ...minimalRecord(node, 'same-id'), args: { owner: node } });
        await storage.save(minimalRecord(node, `only-${i}`));
        await storage.saveFeedback({ ...feedback(node, 'same-id', 'success'), key: 'same-key' });
      }
      for (const [i, { storage, node }] of stores.entries()) {
        expect((await storage.load('same-id'))?.args).toEqual({ owner: node });
        expect(ids(await storage.list())).toEqual([`only-${i}`, 'same-id']);
        expect((await storage.listFeedbacks()).map((f) => f.node)).toEqual([node]);
        for (const j of [0, 1, 2].filter((j) => j !== i)) {
          expect(await storage.load(`only-${j}`)).toBeUndefined();
        }
      }

      await stores[0]!.storage.remove('same-id');
      await stores[0]!.storage.removeFeedback(['same-key']);
      expect(await stores[1]!.storage.load('same-id')).toBeDefined();
      expect(await stores[2]!.storage.listFeedbacks()).toHaveLength(1);
    });

    it(`${label} storage - calls before open reject with a JobReactorError`, async () => {
      const storage = await create();
      await expectJobReactorError(storage.load('x'));
      await expectJobReactorError(storage.save(minimalRecord('n', 'x')));
      await expectJobReactorError(storage.list());
      await expectJobReactorError(storage.listFeedbacks());
    });

    it(`${label} storage - every call after close rejects with a JobReactorError`, async () => {
      const { storage, node } = await opened();
      await storage.save(minimalRecord(node, 'before-close'));
      await storage.close();
      await storage.close(); // idempotent
      await expectJobReactorError(storage.save(minimalRecord(node, 'after-close')));
      await expectJobReactorError(storage.load('before-close'));
      await expectJobReactorError(storage.remove('before-close'));
      await expectJobReactorError(storage.list());
      await expectJobReactorError(storage.list({ status: JobStatus.New }));
      await expectJobReactorError(storage.saveFeedback(feedback(node, 'j', 'success')));
      await expectJobReactorError(storage.removeFeedback(['k']));
      await expectJobReactorError(storage.listFeedbacks());
    });
  });
}

function randomSuffix(): string {
  return randomUUID().replaceAll('-', '').slice(0, 10);
}

function uniqueNodeName(): string {
  return `conf-${randomSuffix()}`;
}

function ids(records: readonly JobRecord[]): string[] {
  return records.map((r) => r.id).sort();
}

function byKey(feedbacks: readonly Feedback[]): Feedback[] {
  return [...feedbacks].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function expectJobReactorError(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(JobReactorError);
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

function minimalRecord(node: string, id: string): JobRecord {
  return {
    id,
    name: 'minimal_job',
    args: { n: 1 },
    distributor: 'dist-1',
    enqueuedAt: T0,
    runAt: T0,
    delivery: 1,
    node,
    status: JobStatus.New,
    attempt: 0,
    dueAt: T0,
    runs: 0,
    updatedAt: T0,
  };
}

/** A record with every field of JobRecord set, optional ones included. */
function fullRecord(node: string): JobRecord {
  return {
    id: '0194f3c2-7a10-7000-8abc-0123456789ab',
    name: 'resize.image_v2',
    args: { url: 'https://example.com/a.png', sizes: [64, 128], opts: { crop: true } },
    distributor: 'dist-42',
    enqueuedAt: T0,
    runAt: T0 + 20_000,
    period: 60_000,
    cron: '*/5 * * * *',
    tz: 'Europe/Warsaw',
    maxAttempt: 7,
    retryMultiplier: 2.5,
    backoff: { type: 'exponential', delay: 500, maxDelay: 30_000, jitter: 1 },
    timeout: 15_000,
    defer: true,
    delivery: 3,
    node,
    status: JobStatus.Error,
    attempt: 2,
    dueAt: T0 + 80_000,
    runs: 5,
    startedAt: T0 + 20_001,
    failedAt: T0 + 20_500,
    lastError: {
      name: 'TimeoutError',
      code: 'JR_ERR_TIMEOUT',
      message: 'took too long',
      details: { timeoutMs: 15_000, phase: 'job' },
    },
    updatedAt: T0 + 20_501,
  };
}

function feedback(node: string, jobId: string, outcome: Feedback['outcome']): Feedback {
  return {
    key: `${jobId}:${outcome}`,
    jobId,
    distributor: 'dist-42',
    node,
    outcome,
    final: outcome !== 'success',
    args: { jobId, ok: outcome === 'success' },
    attempt: 1,
  };
}
