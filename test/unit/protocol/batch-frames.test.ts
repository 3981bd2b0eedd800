import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PayloadTooLargeError } from '../../../src/errors.ts';
import type { Feedback } from '../../../src/model/job.ts';
import {
  BATCH_OVERHEAD,
  ItemBatch,
  encodeFeedbackItem,
  encodeJobItem,
} from '../../../src/protocol/batch-frames.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  encodeFrame,
} from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { JobsMessage } from '../../../src/protocol/messages.ts';
import { sampleJob } from './sample-messages.ts';

describe('batch frames', () => {
  const fb = (i: number, over: Partial<Feedback> = {}): Feedback => ({
    key: `j${i}`,
    jobId: `j${i}`,
    distributor: 'dist-1',
    node: 'worker-1',
    outcome: 'success',
    final: true,
    args: { i },
    attempt: 1,
    ...over,
  });

  /** Every message the frames decode to (through the real decoder). */
  const decodeAll = (frames: Buffer[], maxFrameSize = DEFAULT_MAX_FRAME_SIZE) => {
    const dec = new FrameDecoder({ maxFrameSize });
    return frames.flatMap((f) => dec.push(f));
  };

  it('batch frames - a jobs frame assembled from items decodes like the message, distributor left to the receiver', () => {
    const specs = [
      sampleJob,
      { ...sampleJob, id: 'p', period: 1000, nonce: 'n1', crashedOn: ['a'] },
    ];
    const batch = new ItemBatch('jobs', DEFAULT_MAX_FRAME_SIZE);
    for (const spec of specs) batch.add(encodeJobItem(spec, DEFAULT_MAX_FRAME_SIZE));
    expect(batch.size).toBe(2);
    const frames: Buffer[] = [];
    batch.flush((f) => frames.push(f));
    expect(batch.size).toBe(0);
    expect(frames).toHaveLength(1);
    // The same bytes as encoding the whole message at once.
    const whole = encodeFrame({ t: 'jobs', jobs: specs });
    expect(decodeAll(frames)).toEqual(decodeAll([whole]));
    expect(decodeAll(frames)).toEqual([
      { t: 'jobs', jobs: specs.map((spec) => ({ ...spec, distributor: '' })) },
    ]);
  });

  it('batch frames - feedback items: node and distributor stay home, the key only when it is not the job id', () => {
    const fbs = [
      fb(1),
      fb(2, { key: 'j2@5', final: false, next: 5, runs: 2, outcome: 'error', inErrback: true }),
      fb(3, { outcome: 'cancelled', byApp: true, error: { name: 'E', code: 'C', message: 'm' } }),
    ];
    const batch = new ItemBatch('feedbacks', DEFAULT_MAX_FRAME_SIZE);
    for (const f of fbs) batch.add(encodeFeedbackItem(f, DEFAULT_MAX_FRAME_SIZE));
    const frames: Buffer[] = [];
    batch.flush((f) => frames.push(f));
    expect(decodeAll(frames)).toEqual([
      { t: 'feedbacks', fbs: fbs.map((f) => ({ ...f, node: '', distributor: '' })) },
    ]);
    // A plain success is a 4-element tuple: no key, node or distributor bytes.
    const item = encodeFeedbackItem(fb(1), DEFAULT_MAX_FRAME_SIZE);
    expect(item[0]).toBe(0x94);
    expect(item.includes(Buffer.from('worker-1'))).toBe(false);
  });

  it('batch frames - a batch over the frame limit splits into frames that each fit, in order', () => {
    const max = 4096;
    const batch = new ItemBatch('jobs', max);
    const specs = Array.from({ length: 40 }, (_, i) => ({
      ...sampleJob,
      id: `id-${i}`,
      args: { blob: 'x'.repeat(200 + i * 10) },
    }));
    for (const spec of specs) batch.add(encodeJobItem(spec, max));
    const frames: Buffer[] = [];
    batch.flush((f) => frames.push(f));
    expect(frames.length).toBeGreaterThan(2);
    for (const f of frames) expect(f.length - FRAME_HEADER_SIZE).toBeLessThanOrEqual(max);
    const ids = decodeAll(frames, max).flatMap((m) => (m as JobsMessage).jobs.map((j) => j.id));
    expect(ids).toEqual(specs.map((s) => s.id));
    // The largest item that still fits a frame alone does.
    const big = encodeJobItem({ ...sampleJob, args: { b: 'y'.repeat(max - 300) } }, max);
    batch.add(big);
    const one: Buffer[] = [];
    batch.flush((f) => one.push(f));
    expect(one).toHaveLength(1);
    expect(decodeAll(one, max)).toHaveLength(1);
  });

  it('batch frames - an item that cannot fit a frame, or that the peer would refuse, throws before it is queued', () => {
    expect(() =>
      encodeJobItem({ ...sampleJob, args: { b: 'y'.repeat(4096) } }, 4096 + BATCH_OVERHEAD - 1),
    ).toThrow(PayloadTooLargeError);
    expect(() => encodeJobItem({ ...sampleJob, args: { when: new Date() } }, 4096)).toThrow(
      InvalidArgumentError,
    );
    expect(() => encodeJobItem({ ...sampleJob, distributor: '' }, 4096)).toThrow(
      InvalidArgumentError,
    );
    expect(() => encodeFeedbackItem(fb(1, { args: { m: new Map() } }), 4096)).toThrow(
      InvalidArgumentError,
    );
    expect(() => encodeFeedbackItem(fb(1, { args: { b: 'z'.repeat(5000) } }), 4096)).toThrow(
      PayloadTooLargeError,
    );
  });

  it('batch frames - an empty batch sends nothing', () => {
    const frames: Buffer[] = [];
    new ItemBatch('feedbacks', 1000).flush((f) => frames.push(f));
    expect(frames).toEqual([]);
  });
});
