import { describe, expect, it } from 'vitest';
import type { Feedback } from '../../../src/model/job.ts';
import type { DistributorLink } from '../../../src/node/links/distributor-link.ts';
import { FeedbackOutbox } from '../../../src/node/links/feedback-outbox.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { MemoryStorage } from '../../../src/storage/memory-storage.ts';

function fb(key: string, distributor: string): Feedback {
  return {
    key,
    jobId: key,
    distributor,
    node: 'n',
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
  };
}

async function setup(cap: number, low: number) {
  const storage = new MemoryStorage();
  await storage.open('n');
  const events: [string, boolean][] = [];
  const outbox = new FeedbackOutbox(storage, () => {}, {
    cap,
    low,
    onPressure: (id, over) => void events.push([id, over]),
  });
  return { outbox, events };
}

describe('feedback outbox - per-distributor limit', () => {
  it('feedback outbox - over at the cap once, under at the low mark once; per distributor', async () => {
    const { outbox, events } = await setup(4, 2);
    for (let i = 0; i < 3; i++) await outbox.push(fb(`a${i}`, 'A'));
    await outbox.push(fb('b0', 'B'));
    expect(events).toEqual([]);
    await outbox.push(fb('a3', 'A'));
    await outbox.push(fb('a3', 'A')); // the same key again does not count
    await outbox.push(fb('a4', 'A')); // still over: told once
    expect(events).toEqual([['A', true]]);
    expect(outbox.over('A')).toBe(true);
    expect(outbox.over('B')).toBe(false);
    expect(outbox.pendingFor('A')).toBe(5);
    outbox.acked(['a0', 'a1'], 'A'); // 3 left: above the low mark
    expect(events).toHaveLength(1);
    outbox.acked(['a2'], 'A'); // 2: at the low mark
    expect(events).toEqual([
      ['A', true],
      ['A', false],
    ]);
    expect(outbox.over('A')).toBe(false);
    expect(outbox.size).toBe(3); // nothing was dropped
  });

  it("feedback outbox - a distributor cannot acknowledge another one's feedbacks", async () => {
    const { outbox } = await setup(100, 50);
    await outbox.push(fb('k', 'A'));
    outbox.acked(['k'], 'B');
    outbox.acked(['k'], undefined);
    expect(outbox.size).toBe(1);
    outbox.acked(['k'], 'A');
    expect(outbox.size).toBe(0);
    expect(outbox.pendingFor('A')).toBe(0);
  });
});

describe('feedback outbox - expiry of feedbacks whose distributor stays away', () => {
  const HOUR = 3_600_000;

  /** Just what the outbox reads of a link: its distributor, whether it is up, what it sent. */
  function fakeLink(distributorId: string) {
    const sent: string[] = [];
    const link = {
      distributorId,
      ready: true,
      sendFeedback: (f: Feedback) => void sent.push(f.key),
      sendRoom: () => Number.POSITIVE_INFINITY,
    };
    return { link, sent, asLink: link as unknown as DistributorLink };
  }

  async function expiring(maxAgeMs: number, durable = false) {
    const clock = new FakeClock();
    const storage = new MemoryStorage();
    if (durable) Object.defineProperty(storage, 'durable', { value: true });
    await storage.open('n');
    const expired: [string, number][] = [];
    const pressure: [string, boolean][] = [];
    const outbox = new FeedbackOutbox(
      storage,
      () => {},
      { cap: 3, low: 1, onPressure: (id, over) => void pressure.push([id, over]) },
      { maxAgeMs, clock, onExpired: (id, n) => void expired.push([id, n]) },
    );
    return { clock, storage, outbox, expired, pressure };
  }

  it('feedback outbox - a distributor away for the age loses its feedbacks, once; a connected one never does', async () => {
    const { clock, outbox, expired, pressure } = await expiring(24 * HOUR);
    outbox.start();
    const a = fakeLink('A');
    outbox.linkReady(a.asLink);
    for (let i = 0; i < 4; i++) await outbox.push(fb(`a${i}`, 'A')); // over the cap of 3
    for (let i = 0; i < 2; i++) await outbox.push(fb(`gone${i}`, 'GONE')); // never connects
    expect(pressure).toEqual([['A', true]]);
    // A stays connected without acknowledging: held back, never expired.
    clock.advance(3 * 24 * HOUR);
    expect(expired).toEqual([['GONE', 2]]);
    expect(outbox.pendingFor('A')).toBe(4);
    expect(outbox.pendingFor('GONE')).toBe(0);
    // A goes away: 24 h after it was last seen (at most one sweep later) its feedbacks go,
    // and its hold is lifted with them.
    a.link.ready = false;
    clock.advance(24 * HOUR - 60_000);
    expect(expired).toHaveLength(1);
    clock.advance(2 * 60_000);
    expect(expired).toEqual([
      ['GONE', 2],
      ['A', 4],
    ]);
    expect(pressure).toEqual([
      ['A', true],
      ['A', false],
    ]);
    expect(outbox.size).toBe(0);
    outbox.close();
    expect(clock.pending).toBe(0);
  });

  it('feedback outbox - a distributor that comes back in time gets every feedback; the count starts again', async () => {
    const { clock, outbox, expired } = await expiring(10 * 60_000);
    outbox.start();
    await outbox.push(fb('k1', 'B'));
    await outbox.push(fb('k2', 'B'));
    clock.advance(9 * 60_000); // first seen at the first sweep, 2.5 min in: not yet
    const b = fakeLink('B');
    outbox.linkReady(b.asLink);
    expect(b.sent).toEqual(['k1', 'k2']);
    b.link.ready = false; // gone again right away, without acknowledging
    clock.advance(9 * 60_000);
    expect(expired).toEqual([]); // counted from the handshake, not from the first sweep
    clock.advance(3 * 60_000);
    expect(expired).toEqual([['B', 2]]);
    outbox.close();
  });

  it('feedback outbox - expired feedbacks leave a durable storage; Infinity keeps them for ever', async () => {
    const d = await expiring(60_000, true);
    await d.storage.saveFeedback(fb('s1', 'C'));
    await d.outbox.restore();
    d.outbox.start();
    d.clock.advance(2 * 60_000);
    expect(d.expired).toEqual([['C', 1]]);
    await new Promise((r) => setImmediate(r));
    expect(await d.storage.listFeedbacks()).toEqual([]);
    d.outbox.close();

    const forever = await expiring(Number.POSITIVE_INFINITY);
    forever.outbox.start();
    await forever.outbox.push(fb('f', 'D'));
    forever.clock.advance(365 * 24 * HOUR);
    expect(forever.outbox.expire()).toBe(0);
    expect(forever.outbox.size).toBe(1);
    expect(forever.clock.pending).toBe(0); // no sweep timer at all
  });
});

describe('feedback outbox - resend after a handshake, paced by the link', () => {
  it('feedback outbox - resends as far as the link has room, goes on when it drains, skips what was acknowledged', async () => {
    const { outbox } = await setup(100, 50);
    for (let i = 0; i < 10; i++) await outbox.push(fb(`k${i}`, 'A'));
    let room = 3;
    const sent: string[] = [];
    const raw = {
      distributorId: 'A',
      ready: true,
      sendRoom: () => room,
      sendFeedback: (f: Feedback) => {
        sent.push(f.key);
        room--;
      },
    };
    const link = raw as unknown as DistributorLink;
    outbox.linkReady(link);
    expect(sent).toEqual(['k0', 'k1', 'k2']); // the rest waits for room
    room = 0;
    outbox.room(link);
    expect(sent).toHaveLength(4); // one per drain at least, whatever the room says
    room = 2;
    outbox.room(link);
    expect(sent).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    outbox.acked(['k6', 'k7'], 'A');
    room = 100;
    outbox.room(link);
    expect(sent.slice(6)).toEqual(['k8', 'k9']);
    outbox.room(link); // done: nothing more
    expect(sent).toHaveLength(8);
    // A reconnect resends everything still unacknowledged, from the start.
    outbox.acked(['k0', 'k1', 'k2', 'k3', 'k4'], 'A');
    sent.length = 0;
    outbox.linkReady(link);
    expect(sent).toEqual(['k5', 'k8', 'k9']);
    // A link that drops mid-resend stops; the next handshake starts over.
    room = 1;
    raw.ready = true;
    sent.length = 0;
    outbox.linkReady(link);
    expect(sent).toEqual(['k5']);
    raw.ready = false;
    room = 100;
    outbox.room(link);
    expect(sent).toEqual(['k5']);
  });
});
