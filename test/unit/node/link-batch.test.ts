import { describe, expect, it } from 'vitest';
import { LinkBatch } from '../../../src/node/links/link-batch.ts';
import type { Feedback } from '../../../src/model/job.ts';
import { encodeFeedbackItem } from '../../../src/protocol/batch-frames.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { Message } from '../../../src/protocol/messages.ts';

/** A batch and what its flushes write (frames decoded by the real decoder). */
function batch(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
  const sent: Message[] = [];
  const decoder = new FrameDecoder({ maxFrameSize });
  let requests = 0;
  const b = new LinkBatch(maxFrameSize, () => void requests++);
  const sink = {
    send: (m: Message) => void sent.push(m),
    sendFrame: (f: Buffer) => void sent.push(...decoder.push(f)),
  };
  return { b, sent, flush: () => b.flush(sink), requests: () => requests };
}

const fb = (id: string): Feedback => ({
  key: id,
  jobId: id,
  distributor: 'd',
  node: 'n',
  outcome: 'success',
  final: true,
  args: {},
  attempt: 1,
});

describe('link batch', () => {
  it('link batch - a turn in one go: accepted, run notes, credit, then feedbacks; one flush request', () => {
    const { b, sent, flush, requests } = batch();
    b.feedback(encodeFeedbackItem(fb('a'), DEFAULT_MAX_FRAME_SIZE));
    b.accepted('a');
    b.accepted('b');
    b.started('a');
    b.stopped('c', 2);
    b.credit();
    b.credit(2);
    expect(requests()).toBe(1);
    flush();
    expect(sent).toEqual([
      { t: 'accepted', ids: ['a', 'b'] },
      { t: 'runs', started: ['a'], stopped: ['c'], attempts: [2] },
      { t: 'credit', n: 3 },
      { t: 'feedbacks', fbs: [{ ...fb('a'), distributor: '', node: '' }] },
    ]);
    flush();
    expect(sent).toHaveLength(4);
    b.started('d');
    expect(requests()).toBe(2);
    flush();
    expect(sent[4]).toEqual({ t: 'runs', started: ['d'], stopped: [] });
  });

  it('link batch - held back: credits are withheld, then given back together on release', () => {
    const { b, sent, flush } = batch();
    b.holdCredits();
    expect(b.creditsHeld).toBe(true);
    b.credit();
    b.credit(2);
    flush();
    expect(sent).toEqual([]);
    b.releaseCredits();
    expect(b.creditsHeld).toBe(false);
    flush();
    expect(sent).toEqual([{ t: 'credit', n: 3 }]);
    b.credit();
    flush();
    expect(sent).toEqual([
      { t: 'credit', n: 3 },
      { t: 'credit', n: 1 },
    ]);
  });

  it('link batch - a release with nothing withheld sends nothing', () => {
    const { b, sent, flush } = batch();
    b.holdCredits();
    b.releaseCredits();
    flush();
    expect(sent).toEqual([]);
  });

  it('link batch - more ids than a frame holds go out in several frames, in order, each within the limit', () => {
    const max = 1000;
    const { b, sent, flush } = batch(max);
    const ids = Array.from(
      { length: 100 },
      (_, i) => `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`,
    );
    for (const id of ids) {
      b.accepted(id);
      b.started(id);
      b.stopped(id, 1);
    }
    flush(); // the decoder (maxFrameSize 1000) would throw on a larger frame
    const of = (t: string, key: 'ids' | 'started' | 'stopped') =>
      sent.flatMap((m) =>
        m.t === t ? ((m as unknown as Record<string, string[]>)[key] ?? []) : [],
      );
    expect(sent.filter((m) => m.t === 'accepted').length).toBeGreaterThan(2);
    expect(of('accepted', 'ids')).toEqual(ids);
    expect(of('runs', 'started')).toEqual(ids);
    expect(of('runs', 'stopped')).toEqual(ids);
    for (const m of sent) {
      if (m.t === 'runs') expect(m.attempts ?? []).toHaveLength(m.stopped.length);
    }
  });

  it('link batch - refusals: one message per reason (code and message) per turn, after accepted, in frames within the limit', () => {
    const { b, sent, flush, requests } = batch(1000);
    const full = { code: 'JR_ERR_QUEUE_FULL', message: 'held back', name: 'QueueFullError' };
    const stopping = { code: 'JR_ERR_SHUTDOWN', message: 'stopping', name: 'ShutdownError' };
    const ids = Array.from({ length: 60 }, (_, i) => `job-${String(i).padStart(20, '0')}`);
    for (const id of ids.slice(0, 30)) b.rejected(id, full);
    for (const id of ids.slice(30)) b.rejected(id, { ...full }); // the same reason, built again
    b.rejected('x', stopping);
    b.accepted('a');
    expect(requests()).toBe(1);
    flush(); // the decoder (maxFrameSize 1000) would throw on a larger frame
    expect(sent[0]).toEqual({ t: 'accepted', ids: ['a'] });
    const refusals = sent.slice(1);
    expect(refusals.every((m) => m.t === 'rejected')).toBe(true);
    const of = (code: string) =>
      refusals.flatMap((m) => (m.t === 'rejected' && m.error.code === code ? m.ids : []));
    expect(refusals.length).toBeGreaterThan(2); // 60 ids of 24 chars: several frames
    expect(of('JR_ERR_QUEUE_FULL')).toEqual(ids);
    expect(of('JR_ERR_SHUTDOWN')).toEqual(['x']);
    flush();
    expect(sent).toHaveLength(refusals.length + 1); // nothing twice
  });
});
