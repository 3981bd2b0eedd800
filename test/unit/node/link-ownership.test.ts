import { describe, expect, it } from 'vitest';
import type { DistributorLink } from '../../../src/node/links/distributor-link.ts';
import { LinkOwnership } from '../../../src/node/ownership/link-ownership.ts';
import type { ReadyEntry } from '../../../src/node/lifecycle/ready-queue.ts';
import { JobStatus, type JobRecord } from '../../../src/model/job.ts';
import { silentLogger } from '../../../src/model/logger.ts';
import type { Message } from '../../../src/protocol/messages.ts';

/** The fields LinkOwnership reads of a link, driven by the test. */
class FakeLink {
  ready = true;
  silent = 0;
  connections = 1;
  maxFrameSize = 8 * 1024 * 1024;
  readonly sent: Message[] = [];
  constructor(readonly distributorId: string) {}
  get address(): string {
    return 'fake:1';
  }
  silentFor(): number {
    return this.ready ? this.silent : Number.POSITIVE_INFINITY;
  }
  send(m: Message): boolean {
    if (!this.ready) return false;
    this.sent.push(m);
    return true;
  }
}

function record(id: string, distributor = 'd1'): JobRecord {
  return {
    id,
    name: 'j',
    args: {},
    distributor,
    enqueuedAt: 0,
    runAt: 0,
    delivery: 1,
    node: 'n',
    status: JobStatus.New,
    attempt: 0,
    dueAt: 0,
    runs: 0,
    updatedAt: 0,
  };
}

function setup(held: string[] = []) {
  const link = new FakeLink('d1');
  const resumed: string[] = [];
  const dropped: string[] = [];
  const own = new LinkOwnership(2000, {
    link: (id) => (id === 'd1' ? (link as unknown as DistributorLink) : undefined),
    heldIds: async () => held,
    resume: (entry: ReadyEntry) => void resumed.push(entry.id),
    drop: (id) => void dropped.push(id),
    log: silentLogger,
  });
  const reconciles = () =>
    link.sent.filter((m): m is Extract<Message, { t: 'reconcile' }> => m.t === 'reconcile');
  return { link, own, resumed, dropped, reconciles };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('LinkOwnership - a memory node holds a distributor’s jobs only while the link is fresh', () => {
  it('fresh link: a job may start, nothing is asked', async () => {
    const { own, reconciles } = setup();
    expect(own.mayStart(record('a'), { id: 'a' })).toBe(true);
    await tick();
    expect(reconciles()).toEqual([]);
    expect(own.suspended).toBe(0);
  });

  it('silent past the lease: suspended, one reconcile per turn; owned resumes, the rest is dropped', async () => {
    const { link, own, resumed, dropped, reconciles } = setup();
    link.silent = 2001;
    expect(own.mayStart(record('a'), { id: 'a' })).toBe(false);
    expect(own.mayStart(record('b'), { id: 'b' })).toBe(false);
    expect(own.has('a')).toBe(true);
    await tick();
    expect(reconciles()).toEqual([{ t: 'reconcile', ids: ['a', 'b'] }]);
    // Even once the link is fresh again, nothing of it starts until the answer.
    link.silent = 0;
    expect(own.mayStart(record('c'), { id: 'c' })).toBe(false);
    own.answered(link as unknown as DistributorLink, ['a']);
    expect(resumed).toEqual(['a']);
    expect(dropped).toEqual(['b']);
    // 'c' fell due while the answer was on its way: asked about next.
    await tick();
    expect(reconciles().at(-1)).toEqual({ t: 'reconcile', ids: ['c'] });
    own.answered(link as unknown as DistributorLink, ['c']);
    expect(resumed).toEqual(['a', 'c']);
    expect(own.suspended).toBe(0);
    expect(own.mayStart(record('d'), { id: 'd' })).toBe(true);
  });

  it('link down: suspended and not asked until it reconnects; the reconnect asks about all it holds', async () => {
    const { link, own, resumed, dropped, reconciles } = setup(['t1', 't2']);
    link.ready = false;
    expect(own.mayStart(record('a'), { id: 'a' })).toBe(false);
    await tick();
    expect(reconciles()).toEqual([]);
    link.ready = true;
    link.connections = 2;
    await own.linkReady(link as unknown as DistributorLink);
    expect(reconciles()).toEqual([{ t: 'reconcile', ids: ['t1', 't2', 'a'] }]);
    // The distributor re-sent t2 to this node: only t2 is still its own.
    own.answered(link as unknown as DistributorLink, ['t2']);
    expect(dropped.sort()).toEqual(['a', 't1']);
    expect(resumed).toEqual([]);
  });

  it('a reconnect holding more ids than a frame takes asks in parts, each answered in order', async () => {
    const held = Array.from({ length: 50_000 }, (_, i) => `job-${String(i).padStart(6, '0')}`);
    const { link, own, resumed, dropped, reconciles } = setup(held);
    link.maxFrameSize = 256 * 1024; // half of it per request: ~5k ids of 10 characters
    link.connections = 2;
    await own.linkReady(link as unknown as DistributorLink);
    const parts = reconciles();
    expect(parts.length).toBeGreaterThan(5);
    expect(parts.flatMap((m) => m.ids)).toEqual(held); // each once, in order
    for (const m of parts) {
      // Worst-case size of the frame: within half the limit.
      expect(m.ids.reduce((n, id) => n + 5 + 3 * id.length, 0)).toBeLessThanOrEqual(128 * 1024);
    }
    // The distributor still holds the even ones; answers come one per request, in order.
    for (const m of parts) {
      own.answered(
        link as unknown as DistributorLink,
        m.ids.filter((id) => Number(id.slice(4)) % 2 === 0),
      );
    }
    expect(dropped).toHaveLength(25_000);
    expect(dropped).toContain('job-000007');
    expect(resumed).toEqual([]);
    // Nothing asked again: every request was answered.
    await tick();
    expect(reconciles()).toHaveLength(parts.length);
  });

  it('first connection: nothing to reconcile', async () => {
    const { link, own, reconciles } = setup(['x']);
    await own.linkReady(link as unknown as DistributorLink);
    expect(reconciles()).toEqual([]);
  });

  it('while a reconnect lists what it holds, no job of that distributor starts', async () => {
    const { link, own, reconciles } = setup(['t1']);
    link.connections = 2;
    const ready = own.linkReady(link as unknown as DistributorLink);
    expect(own.mayStart(record('a'), { id: 'a' })).toBe(false);
    await ready;
    await tick();
    // One request names both; the microtask request for 'a' was folded into it.
    expect(reconciles()).toEqual([{ t: 'reconcile', ids: ['t1', 'a'] }]);
  });

  it('a reconnect voids unanswered requests of the old connection', async () => {
    const { link, own, reconciles, resumed } = setup([]);
    link.silent = 5000;
    own.mayStart(record('a'), { id: 'a' });
    await tick();
    expect(reconciles()).toHaveLength(1);
    link.connections = 2;
    link.silent = 0;
    await own.linkReady(link as unknown as DistributorLink);
    expect(reconciles()).toHaveLength(2);
    own.answered(link as unknown as DistributorLink, ['a']);
    expect(resumed).toEqual(['a']);
  });

  it('an answer nobody asked for is ignored; other distributors are not affected', async () => {
    const { link, own, resumed, dropped } = setup();
    own.answered(link as unknown as DistributorLink, ['zz']);
    expect(resumed).toEqual([]);
    expect(dropped).toEqual([]);
    link.silent = 9999;
    // A job of a distributor with no link at all waits for it.
    expect(own.mayStart(record('o', 'other'), { id: 'o' })).toBe(false);
    expect(own.remove('o')?.id).toBe('o');
    expect(own.has('o')).toBe(false);
  });

  it('clear forgets every suspended job (the node stops)', () => {
    const { link, own } = setup();
    link.silent = 9999;
    own.mayStart(record('a'), { id: 'a' });
    own.clear();
    expect(own.suspended).toBe(0);
  });
});
