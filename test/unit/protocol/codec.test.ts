import { describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  InvalidArgumentError,
  PayloadTooLargeError,
  ProtocolError,
} from '../../../src/errors.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  decodeBody,
  encodeFrame,
  encodeMessage,
} from '../../../src/protocol/codec.ts';
import type { Message } from '../../../src/protocol/messages.ts';
import { bigMessage, sampleJob, sampleMessages } from './sample-messages.ts';

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
    // All 16 kinds of messages.ts are covered.
    expect(kinds.size).toBe(16);
  });

  it('codec - bytes and undefined values survive', () => {
    const m: Message = {
      t: 'job',
      job: {
        ...sampleJob,
        args: { bytes: new Uint8Array([1, 2, 3]), gone: undefined, list: [undefined, 1] },
      },
    };
    const back = decodeBody(encodeMessage(m)) as typeof m;
    expect(new Uint8Array(back.job.args.bytes as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
    expect(back.job.args.list).toEqual([undefined, 1]);
    expect('gone' in back.job.args).toBe(true);
  });

  it('codec - a body over maxFrameSize throws PayloadTooLargeError', () => {
    const m: Message = { t: 'job', job: { ...sampleJob, args: { blob: 'x'.repeat(2000) } } };
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
      t: 'job',
      job: { ...sampleJob, args },
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

  it('codec - decodeBody validates', () => {
    expect(() => decodeBody(Buffer.from([0x81, 0xa1, 0x74, 0xa1, 0x78]))).toThrow(ProtocolError);
  });
});
