import type { JobSpec } from '../../../src/model/job.ts';
import type { Message } from '../../../src/protocol/messages.ts';

export const sampleJob: JobSpec = {
  id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  name: 'send_email',
  args: { to: 'a@example.com', n: 3, nested: { list: [1, 'two', null, true, { x: 1.5 }] } },
  distributor: 'dist-1',
  enqueuedAt: 1767225600000,
  runAt: 1767225601000,
  delivery: 1,
};

/** `sampleJob` as a node decodes it (the distributor id is not on the wire). */
export const wireJob: JobSpec = { ...sampleJob, distributor: '' };

/** One (or more) of every message kind, with optional fields both present and absent. */
export const sampleMessages: Message[] = [
  {
    t: 'hello',
    v: 3,
    node: 'worker-1',
    instance: 'a1b2c3',
    capacity: 4,
    window: 8,
    windowBytes: 4_194_304,
    durable: true,
    jobs: ['send_email', 'resize'],
    nonce: '00112233445566778899aabbccddeeff',
  },
  {
    t: 'challenge',
    v: 3,
    distributor: 'dist-1',
    nonce: 'ffeeddccbbaa99887766554433221100',
    proof: '',
  },
  { t: 'auth', proof: 'ab'.repeat(32) },
  { t: 'ready' },
  // Decoded jobs and feedbacks carry no distributor / node: the receiver fills them in.
  { t: 'jobs', jobs: [wireJob] },
  { t: 'jobs', jobs: [] },
  {
    t: 'jobs',
    jobs: [
      wireJob,
      {
        ...wireJob,
        id: 'periodic-1',
        args: {},
        period: 60_000,
        cron: '*/5 * * * *',
        tz: 'Europe/Paris',
        maxAttempt: 5,
        retryMultiplier: 10,
        backoff: { type: 'exponential', delay: 100, maxDelay: 10_000, jitter: 1 },
        timeout: 30_000,
        defer: true,
        delivery: 2,
        pinned: true,
        crashes: 1,
        crashedOn: ['worker-0'],
        runs: 4,
        attempt: 2,
        nonce: 'n0nce',
      },
    ],
  },
  { t: 'accepted', ids: ['a', 'b', 'c'] },
  { t: 'accepted', ids: [] },
  {
    t: 'rejected',
    ids: ['a'],
    error: { name: 'StorageError', code: 'JR_ERR_STORAGE', message: 'redis down' },
  },
  { t: 'credit', n: 16 },
  {
    t: 'feedbacks',
    fbs: [
      {
        key: 'job-1',
        jobId: 'job-1',
        distributor: '',
        node: '',
        outcome: 'success',
        final: true,
        args: { result: 'ok', ünïcødé: '日本語 🎉' },
        attempt: 1,
      },
      {
        key: 'job-2@1767225600000',
        jobId: 'job-2',
        distributor: '',
        node: '',
        outcome: 'error',
        final: false,
        args: {},
        error: {
          name: 'TypeError',
          code: 'JR_ERR_JOB_THREW',
          message: 'x is undefined',
          details: { line: 3 },
        },
        attempt: 2,
        inErrback: true,
        next: 1767225660000,
        runs: 3,
      },
      {
        key: 'job-3',
        jobId: 'job-3',
        distributor: '',
        node: '',
        outcome: 'cancelled',
        final: true,
        args: { x: 1 },
        attempt: 0,
        byApp: true,
      },
    ],
  },
  { t: 'feedbacks', fbs: [] },
  { t: 'fback', keys: ['job-1', 'job-2@1767225600000'] },
  { t: 'cancel', id: 'job-3', req: 7 },
  { t: 'cancelled', req: 7, ok: false },
  { t: 'status', accepting: false, jobs: ['send_email'] },
  { t: 'runs', started: ['job-4'], stopped: [] },
  { t: 'runs', started: [], stopped: ['job-5', 'job-6'], attempts: [1, 3] },
  { t: 'reconcile', ids: ['job-4', 'job-5'] },
  { t: 'owned', ids: ['job-5'] },
  { t: 'drain' },
  { t: 'ping' },
  { t: 'pong' },
  { t: 'ping', id: 7 },
  { t: 'pong', id: 7 },
  { t: 'error', error: { name: 'ProtocolError', code: 'JR_ERR_PROTOCOL', message: 'bad' } },
];

/** A larger body, so msgpack 16- and 32-bit lengths appear. Too big to split at every byte. */
export const bigMessage: Message = {
  t: 'jobs',
  jobs: [
    {
      ...sampleJob,
      distributor: '',
      id: 'big',
      args: { blob: 'x'.repeat(70_000), arr: Array.from({ length: 300 }, (_, i) => i * 1000) },
    },
  ],
};
