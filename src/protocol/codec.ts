import { Packr, Unpackr } from 'msgpackr';
import {
  InvalidArgumentError,
  MalformedFrameError,
  PayloadTooLargeError,
  ProtocolError,
} from '../errors.ts';
import type { Message } from './messages.ts';
import { validateMessage } from './validate.ts';

/**
 * Frame layout: 1 byte frame version, a 4-byte big-endian unsigned body length, then the
 * msgpack body (one map, the message).
 */
export const FRAME_VERSION = 1;
export const FRAME_HEADER_SIZE = 5;
export const DEFAULT_MAX_FRAME_SIZE = 8 * 1024 * 1024;

/**
 * Deepest container nesting a body may have. The envelope takes three levels
 * (message → job → args) and validate caps args at 64, so honest messages stay far below;
 * this bound only keeps hostile nesting from reaching msgpackr's recursive reader.
 */
const MAX_NESTING = 128;

// Plain msgpack only: no records, no structured clone, no class-building extensions.
// int64 becomes a number so no BigInt reaches validation; bins are copied out so decoded
// messages never alias the decoder's (possibly reused) buffers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  int64AsType: 'number',
  copyBuffers: true,
});

/**
 * Encodes a message body. The message is validated first and the bytes are checked with the
 * same scan the receiver runs, so this side never sends something the peer would reject
 * (and close the link for): a Date, a Map, a `__proto__` key in args throw
 * `InvalidArgumentError` here instead.
 */
export function encodeMessage(msg: Message): Buffer {
  try {
    validateMessage(msg);
  } catch (err) {
    throw new InvalidArgumentError(`cannot send this message: ${messageOf(err)}`, { cause: err });
  }
  let body: Buffer;
  try {
    body = packr.pack(msg);
  } catch (err) {
    throw new InvalidArgumentError(`cannot encode this message: ${messageOf(err)}`, {
      cause: err,
    });
  }
  try {
    scanBody(body, 0, body.length);
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot send this message: it holds a value plain msgpack cannot carry (${messageOf(err)})`,
      { cause: err },
    );
  }
  return body;
}

/** The whole frame (header + body). Throws `PayloadTooLargeError` over `maxFrameSize`. */
export function encodeFrame(msg: Message, maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const body = encodeMessage(msg);
  if (body.length > maxFrameSize) {
    throw new PayloadTooLargeError(
      `a ${msg.t} message is ${body.length} bytes encoded, over the maximum frame size ${maxFrameSize}`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  frame[0] = FRAME_VERSION;
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * Decodes and validates one body. Undecodable bytes → `MalformedFrameError`; decodable but
 * not a valid message (or a forbidden key anywhere) → `ProtocolError`.
 */
export function decodeBody(body: Uint8Array): Message {
  scanBody(body, 0, body.length);
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    // The scan accepted it, so this is rare (e.g. a string msgpackr refuses).
    throw new MalformedFrameError(`undecodable frame body: ${messageOf(err)}`, { cause: err });
  }
  return validateMessage(value);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const STR_KEY = 1;

/**
 * One iterative pass over the msgpack structure, before msgpackr sees it, so that only plain
 * data gets decoded: nil, booleans, numbers, strings, bins, arrays and string-keyed maps. It
 * rejects every extension type (Date, Error, RegExp, Set, typed arrays, records — msgpackr
 * would build these, and records compile a reader with `new Function`) except fixext 0,
 * which is `undefined`; nesting beyond MAX_NESTING; lengths longer than the bytes left;
 * trailing bytes; and the keys `__proto__`, `constructor`, `prototype` (msgpackr silently
 * renames `__proto__`, which would hide the attempt from validation).
 */
function scanBody(buf: Uint8Array, start: number, end: number): void {
  let pos = start;
  // Items still to read at each open level; `need` is the current level's.
  const stack: number[] = [];
  const mapStack: number[] = [];
  let need = 1;
  let inMap = 0;
  const fail = (why: string): never => {
    throw new MalformedFrameError(`malformed msgpack body at byte ${pos - start}: ${why}`);
  };
  const open = (items: number, isMap: number): void => {
    if (items === 0) return;
    if (stack.length >= MAX_NESTING) fail(`nesting deeper than ${MAX_NESTING}`);
    // Every item takes at least one byte: a count beyond the bytes left is a lie.
    if (items > end - pos) fail('container longer than the body');
    stack.push(need);
    mapStack.push(inMap);
    need = items;
    inMap = isMap;
  };
  const skip = (n: number): void => {
    if (n > end - pos) fail('value runs past the end of the body');
    pos += n;
  };
  const u16 = (): number => {
    if (end - pos < 2) fail('truncated length');
    const v = (buf[pos]! << 8) | buf[pos + 1]!;
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    if (end - pos < 4) fail('truncated length');
    const v =
      buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
    pos += 4;
    return v;
  };
  for (;;) {
    if (need === 0) {
      if (stack.length === 0) break;
      need = stack.pop()!;
      inMap = mapStack.pop()!;
      continue;
    }
    // In a map `need` counts keys and values; keys sit at even counts (it starts at 2n).
    const isKey = inMap === 1 && (need & 1) === 0;
    need--;
    if (pos >= end) fail('truncated');
    const b = buf[pos++]!;
    if (isKey) {
      let len: number;
      if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
      else if (b === 0xd9) {
        skip(1);
        len = buf[pos - 1]!;
      } else if (b === 0xda) len = u16();
      else if (b === 0xdb) len = u32();
      else return fail('map key is not a string');
      const keyStart = pos;
      skip(len);
      if (len === 9 || len === 11) checkKey(buf, keyStart, len);
      continue;
    }
    if (b <= 0x7f || b >= 0xe0) continue;
    if (b <= 0x8f) open((b & 0x0f) * 2, STR_KEY);
    else if (b <= 0x9f) open(b & 0x0f, 0);
    else if (b <= 0xbf) skip(b & 0x1f);
    else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc4: // bin 8
        case 0xd9: // str 8
          skip(1);
          skip(buf[pos - 1]!);
          break;
        case 0xc5:
        case 0xda:
          skip(u16());
          break;
        case 0xc6:
        case 0xdb:
          skip(u32());
          break;
        case 0xcc:
        case 0xd0:
          skip(1);
          break;
        case 0xcd:
        case 0xd1:
          skip(2);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip(4);
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip(8);
          break;
        case 0xdc:
          open(u16(), 0);
          break;
        case 0xdd:
          open(u32(), 0);
          break;
        case 0xde:
          open(u16() * 2, STR_KEY);
          break;
        case 0xdf:
          open(u32() * 2, STR_KEY);
          break;
        case 0xd4: // fixext 1: only type 0 (undefined) is plain data
          skip(2);
          if (buf[pos - 2] !== 0) fail('extension types are not accepted');
          break;
        default: // 0xc1 (never used), ext 8/16/32, fixext 2..16
          fail(b === 0xc1 ? 'invalid byte 0xc1' : 'extension types are not accepted');
      }
    }
  }
  if (pos !== end) fail('trailing bytes after the message');
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function checkKey(buf: Uint8Array, at: number, len: number): void {
  const key = Buffer.from(buf.buffer, buf.byteOffset + at, len).toString('latin1');
  if (FORBIDDEN_KEYS.has(key)) {
    throw new ProtocolError(`forbidden key "${key}" in a message`);
  }
}
