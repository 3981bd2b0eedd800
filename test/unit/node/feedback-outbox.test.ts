import { describe, expect, it } from 'vitest';
import type { Feedback } from '../../../src/model/job.ts';
import { FeedbackOutbox } from '../../../src/node/links/feedback-outbox.ts';
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
