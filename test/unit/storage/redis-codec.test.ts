import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import type { Feedback, JobRecord } from '../../../src/model/job.ts';
import {
  STATUS_CODES,
  decodeFeedback,
  decodeRecord,
  encodeFeedback,
  encodeRecord,
  StringTable,
} from '../../../src/storage/record-codec.ts';
import { RedisKeys } from '../../../src/storage/redis-keys.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

function job(over: Partial<JobRecord> = {}): JobRecord {
  return {
    id: '0194f3c2-7a10-7000-8abc-0123456789ab',
    name: 'send_email',
    args: { n: 1 },
    distributor: 'd41c8e2f0a9b7c63',
    enqueuedAt: T0,
    runAt: T0 + 60_000,
    delivery: 1,
    node: 'worker-1',
    status: 'new',
    attempt: 0,
    dueAt: T0 + 60_000,
    runs: 0,
    updatedAt: T0 + 3,
    ...over,
  };
}

const roundTrip = (record: JobRecord) => decodeRecord(encodeRecord(record), record.id, record.node);

describe('redis codec', () => {
  it('redis codec - a waiting job is a small tuple without id, node or field names', () => {
    const bytes = encodeRecord(job());
    expect(bytes.length).toBeLessThan(64); // under hash-max-listpack-value: compact small nodes
    expect(bytes.includes(Buffer.from(job().id))).toBe(false);
    expect(bytes.includes(Buffer.from('worker-1'))).toBe(false);
    expect(bytes.includes(Buffer.from('enqueuedAt'))).toBe(false);
    expect(roundTrip(job())).toStrictEqual(job());
  });

  it('record codec - a string table stores the name and distributor as numbers, up to its limit', () => {
    const table = new StringTable(2);
    const a = job();
    const bytes = encodeRecord(a, table);
    expect(bytes.length).toBeLessThan(encodeRecord(a).length - 20);
    expect(bytes.includes(Buffer.from(a.distributor))).toBe(false);
    expect(decodeRecord(bytes, a.id, a.node, table)).toStrictEqual(a);
    // The table is full (two strings): a third distinct string is stored in full.
    const b = job({ distributor: 'another-distributor' });
    const full = encodeRecord(b, table);
    expect(full.includes(Buffer.from('another-distributor'))).toBe(true);
    expect(decodeRecord(full, b.id, b.node, table)).toStrictEqual(b);
    // Without the table, a number where a string belongs is a corrupt record.
    expect(() => decodeRecord(bytes, a.id, a.node)).toThrow(StorageError);
  });

  it('redis codec - every status and every optional field round-trips', () => {
    for (const status of STATUS_CODES) expect(roundTrip(job({ status })).status).toBe(status);
    const full = job({
      period: 60_000,
      cron: '*/5 * * * *',
      tz: 'Europe/Warsaw',
      maxAttempt: 7,
      retryMultiplier: 2.5,
      backoff: { type: 'exponential', delay: 500, maxDelay: 30_000, jitter: 1 },
      timeout: 15_000,
      defer: false,
      startedAt: T0 + 20_001,
      failedAt: T0 + 20_500,
      lastError: { name: 'E', code: 'C', message: 'm', details: { a: [1] } },
    });
    expect(roundTrip(full)).toStrictEqual(full);
    // The trace context, last of the tuple: kept, so an attempt after a restart is in its trace.
    const traced = job({
      trace: {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'a=1',
      },
    });
    expect(roundTrip(traced)).toStrictEqual(traced);
    // A stored trace that is not a usable carrier is dropped (best effort), the job still reads.
    const odd = decodeRecord(
      encodeRecord(job({ trace: { traceparent: 7 } as never })),
      traced.id,
      traced.node,
    );
    expect(odd).toStrictEqual(job());
    // Only the last optional field set: the nils before it stand for absent fields.
    expect(roundTrip(job({ defer: true }))).toStrictEqual(job({ defer: true }));
  });

  it('redis codec - fractional, negative-offset and huge times round-trip exactly', () => {
    for (const over of [
      { runAt: T0 - 5_000, dueAt: T0 - 5_000 },
      { enqueuedAt: T0 + 0.25, updatedAt: T0 + 1.5 },
      { dueAt: Number.MAX_SAFE_INTEGER },
      { enqueuedAt: Number.MAX_SAFE_INTEGER, runAt: -Number.MAX_SAFE_INTEGER },
      { startedAt: 1.1, failedAt: 0 },
    ]) {
      expect(roundTrip(job(over))).toStrictEqual(job(over));
    }
  });

  it('redis codec - an unknown status cannot be stored', () => {
    expect(() => encodeRecord(job({ status: 'zombie' as never }))).toThrow(InvalidArgumentError);
  });

  it('redis codec - corrupt values are StorageError naming the job and node', () => {
    const cases = [
      Buffer.from([0xc1]),
      pack({ not: 'a tuple' }),
      pack([1, 'x']),
      pack([9, 'n', {}, 'd', 0, 0, 1, 0, 0, 0, 0, 0]),
      pack([1, 'n', {}, 'd', 0, 0, 1, 99, 0, 0, 0, 0]),
      pack([1, 42, {}, 'd', 0, 0, 1, 0, 0, 0, 0, 0]),
      pack([1, 'n', [], 'd', 0, 0, 1, 0, 0, 0, 0, 0]),
    ];
    for (const value of cases) {
      expect(() => decodeRecord(value, 'job-7', 'node-3')).toThrow(StorageError);
      expect(() => decodeRecord(value, 'job-7', 'node-3')).toThrow(/job-7.*node-3/);
    }
  });

  it('redis codec - feedbacks round-trip as tuples, stored maps still decode; corrupt ones are StorageError', () => {
    const fb: Feedback = {
      key: 'k1',
      jobId: 'j1',
      distributor: 'd',
      node: 'n',
      outcome: 'error',
      final: true,
      args: { deep: { list: [1, 'two', null] } },
      error: { name: 'E', code: 'C', message: 'boom' },
      attempt: 3,
      inErrback: true,
    };
    expect(decodeFeedback(encodeFeedback(fb), 'k1', 'n')).toStrictEqual(fb);
    // The common one: a success whose key is its job id, nothing optional.
    const plain: Feedback = {
      key: 'j2',
      jobId: 'j2',
      distributor: 'd',
      node: 'n',
      outcome: 'success',
      final: true,
      args: { i: 1 },
      attempt: 1,
    };
    const bytes = encodeFeedback(plain);
    expect(bytes.length).toBeLessThan(pack(plain).length / 2);
    expect(decodeFeedback(bytes, 'j2', 'n')).toStrictEqual(plain);
    // A periodic run's feedback: its own key, next and runs; the node it was written on.
    const run: Feedback = {
      ...plain,
      key: 'j2:1000',
      final: false,
      next: 2000,
      runs: 1,
      byApp: false,
    };
    expect(decodeFeedback(encodeFeedback(run), 'j2:1000', 'other')).toStrictEqual(run);
    // Stored as a map by an earlier version.
    expect(decodeFeedback(pack(fb), 'k1', 'n')).toStrictEqual(fb);
    expect(() => decodeFeedback(pack([1, 2]), 'k1', 'n')).toThrow(StorageError);
    expect(() =>
      decodeFeedback(pack([1, null, 'd', 'n', 'success', 'yes', {}, 1]), 'k', 'n'),
    ).toThrow(StorageError);
    expect(() =>
      decodeFeedback(pack([2, null, 'd', 'n', 'success', true, {}, 1]), 'k', 'n'),
    ).toThrow(StorageError);
  });
});

describe('redis keys', () => {
  it('redis keys - layout, hash tag and validation', () => {
    const keys = new RedisKeys();
    expect(keys.nodes).toBe('jr:nodes');
    expect(keys.node('worker_1')).toEqual({
      jobs: 'jr:{node:worker_1}:jobs',
      feedback: 'jr:{node:worker_1}:feedback',
      lease: 'jr:{node:worker_1}:lease',
      adopted: 'jr:{node:worker_1}:adopted',
    });
    expect(new RedisKeys('app:jobs-1').node('a').jobs).toBe('app:jobs-1:{node:a}:jobs');
    for (const bad of ['', 'a{', 'a}', 'a*', 'a b', 'x'.repeat(65)]) {
      expect(() => new RedisKeys(bad)).toThrow(InvalidArgumentError);
    }
    for (const bad of ['a:b', 'a}', '{a', 'a*', '']) {
      expect(() => keys.node(bad)).toThrow(InvalidArgumentError);
    }
  });
});
