import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../../src/errors.ts';
import type { Feedback, JobRecord } from '../../../src/model/job.ts';
import type { FeedbackOutbox } from '../../../src/node/links/feedback-outbox.ts';
import type { AttemptOutcome } from '../../../src/node/running/job-runner.ts';
import { NodeOwnership, type OwnershipHost } from '../../../src/node/ownership/node-ownership.ts';
import type { ReadyEntry } from '../../../src/node/lifecycle/ready-queue.ts';
import type { JobStorage } from '../../../src/storage/job-storage.ts';
import { makeRecord } from './runner-helpers.ts';

/** A host that records what the ownership asks of its node; `stored` is what list() returns. */
function fakeHost(opts: { leaseValid?: boolean; stored?: JobRecord[] } = {}) {
  const calls: string[] = [];
  const pushed: Feedback[] = [];
  const settled: [JobRecord, AttemptOutcome][] = [];
  const ran: ReadyEntry[] = [];
  const storage = {
    durable: true,
    leaseValid: opts.leaseValid ?? true,
    list: async () => opts.stored ?? [],
  } as unknown as JobStorage & { leaseValid: boolean };
  const outbox = {
    push: async (fb: Feedback) => void pushed.push(fb),
    repersist: async () => void calls.push('repersist'),
  } as unknown as FeedbackOutbox;
  const host: OwnershipHost = {
    name: 'n1',
    instance: 'i1',
    log: { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() },
    storage,
    outbox,
    active: () => true,
    accepts: (name) => name === 'test_job',
    schedule: (r) => void calls.push(`schedule:${r.id}`),
    run: (entries) => void ran.push(...entries),
    settle: (r, o) => void settled.push([r, o]),
    forget: (id) => void calls.push(`forget:${id}`),
    forgetAll: () => void calls.push('forgetAll'),
    saving: () => false,
    storageUp: () => true,
    stopAccepting: () => void calls.push('stopAccepting'),
    storageFailed: (_err, id) => void calls.push(`failed:${id}`),
    emit: (event, ..._args) => void calls.push(`emit:${event}`),
  };
  return { host, storage, calls, pushed, settled, ran };
}

describe('node ownership', () => {
  it('ownership - the gate parks jobs while the lease is untrusted and runs them after a renewal', () => {
    const h = fakeHost({ leaseValid: false });
    const o = new NodeOwnership(h.host, 3);
    const r = makeRecord({ id: 'a' });
    expect(o.allows('a', r, true)).toBe(false);
    expect(h.ran).toEqual([]);
    h.storage.leaseValid = true;
    expect(o.allows('b', makeRecord({ id: 'b' }), false)).toBe(true);
    o.renewed();
    expect(h.ran).toEqual([{ id: 'a', record: r, marked: true }]);
    o.renewed(); // nothing parked: nothing run twice
    expect(h.ran).toHaveLength(1);
  });

  it('ownership - owning → lost: drops every job, stops accepting, emits lease:lost once; lost is final', () => {
    const h = fakeHost({ leaseValid: false });
    const o = new NodeOwnership(h.host, 3);
    o.known.add({ id: 'k', distributor: 'd' });
    expect(o.allows('p', makeRecord({ id: 'p' }), false)).toBe(false);
    expect(o.isLost).toBe(false);
    o.lost('node pid 7 on host h, instance x');
    expect(o.isLost).toBe(true);
    expect(h.calls).toEqual(['forgetAll', 'stopAccepting', 'emit:lease:lost']);
    expect(o.known.size).toBe(0);
    o.lost('again'); // illegal from lost: ignored, nothing emitted twice
    expect(h.calls.filter((c) => c === 'emit:lease:lost')).toHaveLength(1);
    o.renewed(); // the parked job was dropped, not run
    expect(h.ran).toEqual([]);
    expect(o.allows('q', makeRecord({ id: 'q' }), false)).toBe(false);
    o.renewed();
    expect(h.ran).toEqual([]); // nothing parks once lost
  });

  it('ownership - takeStored schedules a healthy job and quarantines a poison one', () => {
    const h = fakeHost();
    const o = new NodeOwnership(h.host, 3);
    o.takeStored(makeRecord({ id: 'ok', crashes: 2 }));
    o.takeStored(makeRecord({ id: 'bad', crashes: 3, crashedOn: ['a', 'b', 'c'] }));
    expect(h.calls).toEqual(['schedule:ok', 'emit:job:quarantined']);
    expect(h.settled).toHaveLength(1);
    const [record, outcome] = h.settled[0]!;
    expect(record.id).toBe('bad');
    expect(outcome.kind === 'error' && outcome.error.code).toBe(ErrorCodes.PoisonJob);
    expect(o.known.size).toBe(2);
  });

  it('ownership - vanished with data lost: jobs no longer stored end with JR_ERR_STORAGE_LOST', async () => {
    const h = fakeHost({ stored: [makeRecord({ id: 'still' })] });
    const o = new NodeOwnership(h.host, 3);
    o.known.add({ id: 'still', distributor: 'd' });
    o.known.add({ id: 'gone', distributor: 'd', nonce: 'z' });
    o.vanished(true);
    await vi.waitFor(() => expect(h.pushed).toHaveLength(1));
    expect(h.pushed[0]).toMatchObject({ key: 'gone~z', jobId: 'gone', final: true });
    expect(h.pushed[0]!.error?.code).toBe(ErrorCodes.StorageLost);
    expect(h.calls).toEqual(['forget:gone', 'emit:storage:lost', 'repersist']);
    expect(o.known.list().map((j) => j.id)).toEqual(['still']);
  });

  it('ownership - vanished after an expiry: jobs adopted meanwhile are dropped without a feedback', async () => {
    const h = fakeHost({ stored: [] });
    const o = new NodeOwnership(h.host, 3);
    o.known.add({ id: 'adopted', distributor: 'd' });
    o.vanished(false);
    await vi.waitFor(() => expect(h.calls).toEqual(['forget:adopted']));
    expect(h.pushed).toEqual([]);
  });

  it('ownership - adopted: feedbacks go to the outbox as stored, records are taken, one event', () => {
    const h = fakeHost();
    const o = new NodeOwnership(h.host, 3);
    const fb = { key: 'f', jobId: 'f', distributor: 'd' } as Feedback;
    o.adopted('dead', [makeRecord({ id: 'x' })], [fb]);
    expect(h.pushed).toEqual([fb]);
    expect(h.calls).toEqual(['schedule:x', 'emit:jobs:adopted']);
    expect(o.accepts('test_job')).toBe(true);
    expect(o.accepts('other')).toBe(false);
    expect(o.instance).toBe('i1');
  });
});
