import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  InvalidArgumentError,
  PayloadTooLargeError,
  ProtocolError,
} from '../../../src/errors.ts';
import type { Feedback, JobArgs } from '../../../src/model/job.ts';
import {
  BATCH_OVERHEAD,
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  ItemBatch,
  decodeBody,
  encodeFeedbackItem,
  encodeFrame,
  encodeJobItem,
  encodeMessage,
  wireForm,
} from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { JobsMessage, Message } from '../../../src/protocol/messages.ts';
import { bigMessage, sampleJob, sampleMessages, wireJob } from './sample-messages.ts';

describe('codec', () => {
  it('codec - constants', () => {
    expect(FRAME_HEADER_SIZE).toBe(5);
    expect(DEFAULT_MAX_FRAME_SIZE).toBe(8 * 1024 * 1024);
  });

  it('codec - every message kind round-trips', () => {
    const kinds = new Set<string>();
    for (const m of [...sampleMessages, bigMessage]) {
      kinds.add(m.t);
      expect(decodeBody(encodeMessage(m))).toEqual(m);
      const frame = encodeFrame(m);
      expect(frame[0]).toBe(1);
      expect(frame.readUInt32BE(1)).toBe(frame.length - FRAME_HEADER_SIZE);
      expect(decodeBody(frame.subarray(FRAME_HEADER_SIZE))).toEqual(m);
    }
    // Every kind of messages.ts is covered.
    expect([...kinds].sort()).toEqual(
      [
        'hello',
        'challenge',
        'auth',
        'ready',
        'jobs',
        'accepted',
        'rejected',
        'credit',
        'feedbacks',
        'fback',
        'cancel',
        'cancelled',
        'status',
        'runs',
        'reconcile',
        'owned',
        'drain',
        'ping',
        'pong',
        'error',
      ].sort(),
    );
  });

  it('codec - bytes and undefined values survive', () => {
    const m = {
      t: 'jobs',
      jobs: [
        {
          ...wireJob,
          args: { bytes: new Uint8Array([1, 2, 3]), gone: undefined, list: [undefined, 1] },
        },
      ],
    } satisfies Message;
    const back = decodeBody(encodeMessage(m)) as typeof m;
    const args = back.jobs[0]!.args;
    expect(new Uint8Array(args.bytes as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
    expect(args.list).toEqual([undefined, 1]);
    expect('gone' in args).toBe(true);
  });

  it('codec - a body over maxFrameSize throws PayloadTooLargeError', () => {
    const m: Message = { t: 'jobs', jobs: [{ ...wireJob, args: { blob: 'x'.repeat(2000) } }] };
    expect(() => encodeFrame(m, 1000)).toThrow(PayloadTooLargeError);
    try {
      encodeFrame(m, 1000);
    } catch (err) {
      expect((err as PayloadTooLargeError).code).toBe(ErrorCodes.PayloadTooLarge);
    }
    expect(encodeFrame(m, 4000).length).toBeGreaterThan(2000);
  });

  it('codec - refuses to send what the peer would reject', () => {
    const withArgs = (args: Record<string, unknown>): Message => ({
      t: 'jobs',
      jobs: [{ ...wireJob, args }],
    });
    const cases: Message[] = [
      withArgs({ when: new Date() }),
      withArgs({ m: new Map([[1, 2]]) }),
      withArgs({ big: 10n }),
      withArgs(JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>),
      withArgs({ a: { constructor: 1 } }),
      { t: 'credit', n: -1 },
      { t: 'nope' } as unknown as Message,
    ];
    for (const m of cases) {
      expect(() => encodeMessage(m)).toThrow(InvalidArgumentError);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('codec - accepts every plain msgpack encoding of a message', () => {
    // Another encoder may use fixmaps, str8 keys, any int width, float32…
    const compact = new Packr({ useRecords: false, variableMapSize: true });
    for (const m of [...sampleMessages, bigMessage]) {
      expect(decodeBody(compact.pack(wireForm(m)))).toEqual(m);
    }
    const credit = (n: number[]) =>
      Buffer.from([0x82, 0xa1, 0x74, 0xa6, ...Buffer.from('credit'), 0xd9, 1, 0x6e, ...n]);
    const widths: Array<[number[], number]> = [
      [[0x05], 5],
      [[0xcc, 200], 200],
      [[0xcd, 1, 0], 256],
      [[0xce, 0, 1, 0, 0], 65536],
      [[0xcf, 0, 0, 0, 1, 0, 0, 0, 0], 2 ** 32],
      [[0xd0, 5], 5],
      [[0xd1, 0, 5], 5],
      [[0xd2, 0, 0, 0, 5], 5],
      [[0xd3, 0, 0, 0, 0, 0, 0, 0, 5], 5],
      [[0xca, 0x40, 0, 0, 0], 2],
      [[0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0], 2],
    ];
    for (const [bytes, n] of widths) {
      expect(decodeBody(credit(bytes))).toEqual({ t: 'credit', n });
    }
    // array16 / map16 / str16 / bin8 inside args.
    const args = Buffer.from([
      0xde, 0, 2, 0xda, 0, 1, 0x61, 0xdc, 0, 2, 0xc0, 0xc3, 0xa1, 0x62, 0xc4, 2, 9, 9,
    ]);
    const body = new Packr({ useRecords: false }).pack(
      wireForm({ t: 'jobs', jobs: [{ ...wireJob, args: 'ARGS' as unknown as JobArgs }] }),
    );
    const at = body.indexOf(Buffer.from([0xa4, ...Buffer.from('ARGS')]));
    const patched = Buffer.concat([body.subarray(0, at), args, body.subarray(at + 5)]);
    const decoded = decodeBody(patched) as JobsMessage;
    expect(decoded.jobs[0]!.args.a).toEqual([null, true]);
    expect([...(decoded.jobs[0]!.args.b as Uint8Array)]).toEqual([9, 9]);
  });

  it('codec - decodeBody validates', () => {
    expect(() => decodeBody(Buffer.from([0x81, 0xa1, 0x74, 0xa1, 0x78]))).toThrow(ProtocolError);
  });
});

describe('codec - batched items', () => {
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

  it('codec - a jobs frame assembled from items decodes like the message, distributor left to the receiver', () => {
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

  it('codec - feedback items: node and distributor stay home, the key only when it is not the job id', () => {
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

  it('codec - a batch over the frame limit splits into frames that each fit, in order', () => {
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

  it('codec - an item that cannot fit a frame, or that the peer would refuse, throws before it is queued', () => {
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

  it('codec - an empty batch sends nothing', () => {
    const frames: Buffer[] = [];
    new ItemBatch('feedbacks', 1000).flush((f) => frames.push(f));
    expect(frames).toEqual([]);
  });
});
