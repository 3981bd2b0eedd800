import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  InvalidArgumentError,
  MalformedFrameError,
  PayloadTooLargeError,
  ProtocolError,
} from '../../../src/errors.ts';
import type { JobArgs } from '../../../src/model/job.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  decodeBody,
  encodeFrame,
  encodeMessage,
  wireForm,
} from '../../../src/protocol/codec.ts';
import type { JobsMessage, Message } from '../../../src/protocol/messages.ts';
import { bigMessage, sampleMessages, wireJob } from './sample-messages.ts';

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
        'progress',
        'query',
        'answer',
        'limits',
        'permits',
        'granted',
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

  it('codec - the byte scan allows 128 nested containers, not 129, and a refused body leaves no trace', () => {
    const nested = (n: number) => Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0xc0])]);
    // 128 levels are plain msgpack (then refused as a message); 129 are refused by the scan.
    expect(() => decodeBody(nested(128))).toThrow(ProtocolError);
    expect(() => decodeBody(nested(128))).not.toThrow(MalformedFrameError);
    expect(() => decodeBody(nested(129))).toThrow(MalformedFrameError);
    expect(() => decodeBody(nested(129))).toThrow(/nesting over 128/);
    // The scan keeps its stacks between calls: one that stopped deep inside a body (nesting,
    // truncation) must not leak into the next.
    const truncated = Buffer.concat([Buffer.alloc(60, 0x92), Buffer.from([0xc0])]);
    expect(() => decodeBody(truncated)).toThrow(MalformedFrameError);
    for (const m of sampleMessages) expect(decodeBody(encodeMessage(m))).toEqual(m);
    // { a: { a: … } } 40 deep, cut off before its innermost value.
    const map = Buffer.from(Array.from({ length: 40 }, () => [0x81, 0xa1, 0x61]).flat());
    expect(() => decodeBody(map)).toThrow(MalformedFrameError);
    for (const m of sampleMessages) expect(decodeBody(encodeMessage(m))).toEqual(m);
  });
});
