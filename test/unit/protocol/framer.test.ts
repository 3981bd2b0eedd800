import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  ErrorCodes,
  FrameTooLargeError,
  JobReactorError,
  MalformedFrameError,
  ProtocolError,
} from '../../../src/errors.ts';
import {
  ItemBatch,
  encodeFeedbackItem,
  encodeJobItem,
} from '../../../src/protocol/batch-frames.ts';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame } from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { Feedback, JobArgs } from '../../../src/model/job.ts';
import type { Message } from '../../../src/protocol/messages.ts';
import { validateMessage } from '../../../src/protocol/validate.ts';
import { jobTuple } from '../../../src/protocol/wire-forms.ts';
import { bigMessage, sampleJob, sampleMessages, wireJob } from './sample-messages.ts';

const MAX = 1024 * 1024;
const rawPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** A frame around arbitrary body bytes (bypassing the encoder's own checks). */
function frameOf(body: Uint8Array, version = 1): Buffer {
  const header = Buffer.alloc(5);
  header[0] = version;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** A frame around any value msgpackr can pack, valid message or not. */
function rawFrame(value: unknown): Buffer {
  return frameOf(rawPackr.pack(value));
}

function decodeChunks(chunks: Uint8Array[], max = MAX): Message[] {
  const decoder = new FrameDecoder({ maxFrameSize: max });
  return chunks.flatMap((c) => decoder.push(c));
}

function pushError(decoder: FrameDecoder, chunk: Uint8Array): unknown {
  try {
    decoder.push(chunk);
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectNoPollution(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

afterEach(expectNoPollution);

const frames = sampleMessages.map((m) => encodeFrame(m, MAX));

describe('framer', () => {
  it('framer - decodes each frame whole', () => {
    sampleMessages.forEach((m, i) => {
      expect(decodeChunks([frames[i]!])).toEqual([m]);
    });
    expect(decodeChunks([encodeFrame(bigMessage, MAX)])).toEqual([bigMessage]);
  });

  it('framer - each frame split at every byte boundary', () => {
    sampleMessages.forEach((m, i) => {
      const f = frames[i]!;
      for (let cut = 0; cut <= f.length; cut++) {
        expect(decodeChunks([f.subarray(0, cut), f.subarray(cut)])).toEqual([m]);
      }
    });
  });

  it('framer - batched jobs and feedbacks frames (assembled from items) split at every byte', () => {
    const jobs = new ItemBatch('jobs', MAX);
    const specs = [sampleJob, { ...sampleJob, id: 'p2', period: 500, crashes: 1 }];
    for (const spec of specs) jobs.add(encodeJobItem(spec, MAX));
    const fbs = new ItemBatch('feedbacks', MAX);
    const fb: Feedback = {
      key: 'k@1',
      jobId: 'k',
      distributor: 'd',
      node: 'n',
      outcome: 'error',
      final: false,
      args: { a: [1, 'x'] },
      error: { name: 'E', code: 'C', message: 'm' },
      attempt: 2,
      next: 5,
    };
    fbs.add(encodeFeedbackItem(fb, MAX));
    fbs.add(
      encodeFeedbackItem({ ...fb, key: 'j', jobId: 'j', final: true, outcome: 'success' }, MAX),
    );
    const out: Buffer[] = [];
    jobs.flush((f) => out.push(f));
    fbs.flush((f) => out.push(f));
    const all = Buffer.concat(out);
    const whole = decodeChunks([all]);
    expect(whole.map((m) => m.t)).toEqual(['jobs', 'feedbacks']);
    for (let cut = 0; cut <= all.length; cut++) {
      expect(decodeChunks([all.subarray(0, cut), all.subarray(cut)])).toEqual(whole);
    }
  });

  it('framer - a concatenation of all frames split at every point', () => {
    const all = Buffer.concat(frames);
    for (let cut = 0; cut <= all.length; cut++) {
      expect(decodeChunks([all.subarray(0, cut), all.subarray(cut)])).toEqual(sampleMessages);
    }
  });

  it('framer - a concatenation cut in three at many points', () => {
    const all = Buffer.concat(frames);
    for (let a = 0; a <= all.length; a += 11) {
      for (let b = a; b <= all.length; b += 29) {
        const out = decodeChunks([all.subarray(0, a), all.subarray(a, b), all.subarray(b)]);
        expect(out).toEqual(sampleMessages);
      }
    }
  });

  it('framer - one byte at a time', () => {
    const all = Buffer.concat([...frames, encodeFrame(bigMessage, MAX)]);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; i++) chunks.push(all.subarray(i, i + 1));
    expect(decodeChunks(chunks)).toEqual([...sampleMessages, bigMessage]);
  });

  it('framer - reports a partial frame and counts frames', () => {
    const decoder = new FrameDecoder({ maxFrameSize: MAX });
    const f = frames[4]!;
    expect(decoder.inFrame).toBe(false);
    decoder.push(f.subarray(0, 2));
    expect(decoder.inFrame).toBe(true);
    decoder.push(f.subarray(2, 20));
    expect(decoder.inFrame).toBe(true);
    expect(decoder.frames).toBe(0);
    decoder.push(Buffer.concat([f.subarray(20), frames[3]!]));
    expect(decoder.inFrame).toBe(false);
    expect(decoder.frames).toBe(2);
  });

  it('framer - several frames coalesced in one chunk', () => {
    const all = Buffer.concat([...frames, encodeFrame(bigMessage, MAX), ...frames]);
    expect(decodeChunks([all])).toEqual([...sampleMessages, bigMessage, ...sampleMessages]);
  });

  it('framer - a 1 MiB body in 1-byte chunks is not quadratic', () => {
    // Quadratic copying would move ~5·10^11 bytes here and blow the test timeout.
    const msg: Message = {
      t: 'jobs',
      jobs: [{ ...wireJob, args: { blob: 'y'.repeat(MAX - 300) } }],
    };
    const frame = encodeFrame(msg, MAX);
    expect(frame.length).toBeGreaterThan(MAX - 400);
    const decoder = new FrameDecoder({ maxFrameSize: MAX });
    const out: Message[] = [];
    for (let i = 0; i < frame.length; i++)
      decoder.decode(frame.subarray(i, i + 1), (m) => out.push(m));
    expect(out).toEqual([msg]);
  });

  it('framer - an oversized length is rejected from the 5 header bytes alone', () => {
    for (const len of [MAX + 1, 0xffffffff]) {
      const header = Buffer.alloc(5);
      header[0] = 1;
      header.writeUInt32BE(len, 1);
      const decoder = new FrameDecoder({ maxFrameSize: MAX });
      const err = pushError(decoder, header);
      expect(err).toBeInstanceOf(FrameTooLargeError);
      expect((err as JobReactorError).code).toBe(ErrorCodes.FrameTooLarge);
      // Also when the header itself trickles in.
      const slow = new FrameDecoder({ maxFrameSize: MAX });
      for (let i = 0; i < 4; i++) expect(slow.push(header.subarray(i, i + 1))).toEqual([]);
      expect(pushError(slow, header.subarray(4))).toBeInstanceOf(FrameTooLargeError);
    }
  });

  it('framer - the default maximum is 8 MiB', () => {
    const header = Buffer.from([1, 0, 0x80, 0, 1]); // 8 MiB + 1
    const decoder = new FrameDecoder({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE });
    expect(pushError(decoder, header)).toBeInstanceOf(FrameTooLargeError);
  });

  it('framer - a bad version byte fails at the first byte (e.g. HTTP)', () => {
    const decoder = new FrameDecoder({ maxFrameSize: MAX });
    expect(pushError(decoder, Buffer.from('G'))).toBeInstanceOf(MalformedFrameError);
    const http = new FrameDecoder({ maxFrameSize: MAX });
    expect(pushError(http, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBeInstanceOf(
      MalformedFrameError,
    );
    const v2 = new FrameDecoder({ maxFrameSize: MAX });
    expect(pushError(v2, frameOf(rawPackr.pack({ t: 'ping' }), 2))).toBeInstanceOf(
      MalformedFrameError,
    );
    // A bad version after a good frame, in the same chunk.
    const mixed = new FrameDecoder({ maxFrameSize: MAX });
    const err = pushError(mixed, Buffer.concat([frames[3]!, Buffer.from([0, 0, 0, 0, 1, 0xc0])]));
    expect(err).toBeInstanceOf(MalformedFrameError);
  });

  it('framer - undecodable bodies are MalformedFrameError', () => {
    const bodies = [
      Buffer.from([0xc1, 0xc1, 0xc1]), // never-used byte
      Buffer.from([0x83, 0xa1, 0x74]), // map of 3 with a truncated key
      rawPackr.pack({ t: 'ping' }).subarray(0, 3), // truncated
      Buffer.concat([rawPackr.pack({ t: 'ping' }), Buffer.from([0xc0])]), // trailing bytes
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array claiming 4G items
      Buffer.from([0x81, 0x01, 0x02]), // non-string key
      Buffer.from([0xd6, 0xff, 0, 0, 0, 0]), // timestamp extension (Date)
      Buffer.from([0xd4, 0x72, 0x40]), // record definition extension
      Buffer.from([0xc7, 0x01, 0x65, 0x00]), // Error extension
      Buffer.alloc(0), // empty body
    ];
    for (const body of bodies) {
      const decoder = new FrameDecoder({ maxFrameSize: MAX });
      const err = pushError(decoder, frameOf(body));
      expect(err, body.toString('hex')).toBeInstanceOf(MalformedFrameError);
    }
  });

  it('framer - hostile nesting is rejected without a stack overflow', () => {
    const depth = 100_000;
    const body = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
    const err = pushError(new FrameDecoder({ maxFrameSize: MAX }), frameOf(body));
    expect(err).toBeInstanceOf(MalformedFrameError);
  });

  it('framer - valid msgpack that is not a valid message is a ProtocolError', () => {
    const bad: unknown[] = [
      { t: 'nope' },
      { nothing: 1 },
      [1, 2, 3],
      'just a string',
      { t: 'hello', v: 3 },
      { t: 'jobs', j: [jobTuple({ ...sampleJob, id: 7 as unknown as string })] },
      { t: 'jobs', j: [jobTuple({ ...sampleJob, args: 'x' as unknown as JobArgs })] },
      { t: 'jobs', j: [jobTuple({ ...sampleJob, runAt: 'soon' as unknown as number })] },
      { t: 'jobs', j: [sampleJob] },
      { t: 'credit', n: -1 },
      { t: 'accepted', ids: ['a', 2] },
      JSON.parse(`{"t":"jobs","j":[["id","n",{"__proto__":{"polluted":1}},1,2,1]]}`),
      {
        t: 'jobs',
        j: [
          jobTuple({ ...sampleJob, args: { a: { constructor: { prototype: { polluted: 1 } } } } }),
        ],
      },
      { t: 'feedbacks', f: [['k', 'success']] },
    ];
    for (const value of bad) {
      const err = pushError(new FrameDecoder({ maxFrameSize: MAX }), rawFrame(value));
      expect(err, JSON.stringify(value)?.slice(0, 80)).toBeInstanceOf(ProtocolError);
    }
  });

  it('framer - messages before a bad frame in the same chunk reach the sink', () => {
    const decoder = new FrameDecoder({ maxFrameSize: MAX });
    const got: Message[] = [];
    const chunk = Buffer.concat([frames[3]!, frames[6]!, Buffer.from('GET /')]);
    expect(() => decoder.decode(chunk, (m) => got.push(m))).toThrow(MalformedFrameError);
    expect(got).toEqual([sampleMessages[3], sampleMessages[6]]);
  });

  it('framer - stays failed after an error', () => {
    const decoder = new FrameDecoder({ maxFrameSize: MAX });
    const first = pushError(decoder, Buffer.from([9]));
    expect(first).toBeInstanceOf(MalformedFrameError);
    expect(pushError(decoder, frames[3]!)).toBe(first);
    expect(decoder.failed).toBe(true);
    decoder.close();
    expect(pushError(decoder, frames[3]!)).toBe(first);
    const closed = new FrameDecoder({ maxFrameSize: MAX });
    closed.close();
    expect(pushError(closed, frames[3]!)).toBeInstanceOf(ClosedError);
  });

  it('framer - fuzz: only valid messages or typed errors, no pollution', () => {
    const rand = mulberry32(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const valid = [...frames];
    const mutate = (input: Buffer): Buffer => {
      const out = Buffer.from(input);
      switch (Math.floor(rand() * 8)) {
        case 0: // bit flips
          for (let k = 0; k < 1 + rand() * 4; k++) {
            const i = Math.floor(rand() * out.length);
            out[i]! ^= 1 << Math.floor(rand() * 8);
          }
          return out;
        case 1: // length-field edit
          out.writeUInt32BE(Math.floor(rand() * 2 ** 32), 1);
          return out;
        case 2: // small length delta
          out.writeUInt32BE(Math.max(0, out.readUInt32BE(1) + Math.floor(rand() * 9) - 4), 1);
          return out;
        case 3: // truncation
          return out.subarray(0, Math.floor(rand() * out.length));
        case 4: // concatenation
          return Buffer.concat([out, pick(valid)]);
        case 5: // duplicated header
          return Buffer.concat([out.subarray(0, 5), out]);
        case 6: // random byte overwrite inside the body
          for (let k = 0; k < 3; k++) {
            out[5 + Math.floor(rand() * (out.length - 5))] = Math.floor(rand() * 256);
          }
          return out;
        default: // invalid UTF-8 sprinkled in
          out[5 + Math.floor(rand() * (out.length - 5))] = 0xff;
          return out;
      }
    };
    let messages = 0;
    let errors = 0;
    for (let n = 0; n < 6000; n++) {
      let input: Buffer;
      if (n % 3 === 0) {
        input = Buffer.alloc(Math.floor(rand() * 64));
        for (let i = 0; i < input.length; i++) input[i] = Math.floor(rand() * 256);
        if (rand() < 0.5 && input.length > 0) input[0] = 1; // get past the version byte
      } else {
        input = mutate(pick(valid));
      }
      const cut = Math.floor(rand() * (input.length + 1));
      for (const chunks of [[input], [input.subarray(0, cut), input.subarray(cut)]]) {
        const decoder = new FrameDecoder({ maxFrameSize: 4096 });
        try {
          for (const chunk of chunks) {
            for (const m of decoder.push(chunk)) {
              validateMessage(m);
              messages++;
            }
          }
        } catch (err) {
          errors++;
          if (!(err instanceof JobReactorError)) throw err;
        }
        expectNoPollution();
      }
    }
    expect(messages).toBeGreaterThan(0);
    expect(errors).toBeGreaterThan(0);
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
