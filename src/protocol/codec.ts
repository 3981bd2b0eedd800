import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import {
  InvalidArgumentError,
  MalformedFrameError,
  messageOf,
  PayloadTooLargeError,
  ProtocolError,
} from '../errors.ts';
import type { Message } from './messages.ts';
import { validateMessage } from './validate.ts';
import { feedbackTuple, jobTuple } from './wire-forms.ts';

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
  const wire = wireForm(msg);
  try {
    validateMessage(wire);
  } catch (err) {
    throw new InvalidArgumentError(`cannot send this message: ${messageOf(err)}`, { cause: err });
  }
  return packChecked(wire);
}

/** The value that goes on the wire: batched messages as tuples (see wire-forms.ts). */
export function wireForm(msg: Message): unknown {
  if (msg.t === 'jobs') return { t: 'jobs', j: msg.jobs.map(jobTuple) };
  if (msg.t === 'feedbacks') return { t: 'feedbacks', f: msg.fbs.map(feedbackTuple) };
  return msg;
}

/** Packs a checked value and runs the receiver's byte scan over the result. */
export function packChecked(value: unknown): Buffer {
  let body: Buffer;
  try {
    body = packr.pack(value);
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
  const wire = wireForm(msg);
  try {
    validateMessage(wire);
  } catch (err) {
    throw new InvalidArgumentError(`cannot send this message: ${messageOf(err)}`, { cause: err });
  }
  const frame = packFrame(wire, msg.t, maxFrameSize);
  try {
    scanBody(frame, FRAME_HEADER_SIZE, frame.length);
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot send this message: it holds a value plain msgpack cannot carry (${messageOf(err)})`,
      { cause: err },
    );
  }
  return frame;
}

/**
 * A frame for a message this side built from values it checked already (the ids, counts
 * and keys of the batched bookkeeping messages: `accepted`, `runs`, `credit`, `fback`): no
 * second validation and scan of a few thousand ids per turn.
 */
export function encodeOwnFrame(msg: Message, maxFrameSize: number): Buffer {
  return packFrame(msg, msg.t, maxFrameSize);
}

/** Packs `value` with room for the header in front (no copy), and writes the header. */
function packFrame(value: unknown, t: string, maxFrameSize: number): Buffer {
  let frame: Buffer;
  try {
    frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_SIZE);
  } catch (err) {
    throw new InvalidArgumentError(`cannot encode this message: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const bodyLength = frame.length - FRAME_HEADER_SIZE;
  if (bodyLength > maxFrameSize) {
    throw new PayloadTooLargeError(
      `a ${t} message is ${bodyLength} bytes encoded, over the maximum frame size ${maxFrameSize}`,
    );
  }
  frame[0] = FRAME_VERSION;
  frame.writeUInt32BE(bodyLength, 1);
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

/**
 * scanBody's stacks: what each enclosing container still needs (up to 2 × 2³² items for a
 * map, which a double holds), and whether it is a map.
 */
const SCAN_NEEDS = new Float64Array(MAX_NESTING);
const SCAN_MAPS = new Uint8Array(MAX_NESTING);

/**
 * One iterative pass over the msgpack structure, before msgpackr sees it, so that only plain
 * data gets decoded: nil, booleans, numbers, strings, bins, arrays and string-keyed maps. It
 * rejects every extension type (Date, Error, RegExp, Set, typed arrays, records — msgpackr
 * would build these, and records compile a reader with `new Function`) except fixext 0,
 * which is `undefined`; nesting beyond MAX_NESTING; lengths longer than the bytes left;
 * trailing bytes; and the keys `__proto__`, `constructor`, `prototype` (msgpackr silently
 * renames `__proto__`, which would hide the attempt from validation).
 *
 * Written as one flat loop without closures: it runs on every message in both directions.
 */
function scanBody(buf: Uint8Array, start: number, end: number): void {
  let pos = start;
  // Items still to read at the current level, and at each enclosing one (with its map flag),
  // on the module's stacks: the scan runs for every job and feedback sent, and two fresh
  // arrays per call were ~380 B per job on each side. It never re-enters (no callbacks).
  let need = 1;
  let inMap = false;
  let depth = 0;
  for (;;) {
    if (need === 0) {
      if (depth === 0) break;
      depth--;
      need = SCAN_NEEDS[depth]!;
      inMap = SCAN_MAPS[depth] === 1;
      continue;
    }
    // In a map `need` counts keys and values; keys sit at even counts (it starts at 2n).
    const isKey = inMap && (need & 1) === 0;
    need--;
    if (pos >= end) throw malformed(pos - start, 'truncated');
    const b = buf[pos++]!;
    let skip = 0; // payload bytes to step over
    let items = -1; // >= 0: a container opens with this many items
    let map = false;
    if (b <= 0x7f || b >= 0xe0) {
      if (isKey) throw malformed(pos - start, 'map key is not a string');
      continue;
    } else if (b >= 0xa0 && b <= 0xbf) {
      skip = b & 0x1f;
    } else if (isKey && b !== 0xd9 && b !== 0xda && b !== 0xdb) {
      throw malformed(pos - start, 'map key is not a string');
    } else if (b <= 0x8f) {
      items = b & 0x0f;
      map = true;
    } else if (b <= 0x9f) {
      items = b & 0x0f;
    } else {
      const left = end - pos;
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          continue;
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (left < 1) throw malformed(pos - start, 'truncated length');
          skip = buf[pos++]!;
          break;
        case 0xc5:
        case 0xda:
          if (left < 2) throw malformed(pos - start, 'truncated length');
          skip = (buf[pos]! << 8) | buf[pos + 1]!;
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (left < 4) throw malformed(pos - start, 'truncated length');
          skip = readU32(buf, pos);
          pos += 4;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc:
        case 0xde:
          if (left < 2) throw malformed(pos - start, 'truncated length');
          items = (buf[pos]! << 8) | buf[pos + 1]!;
          pos += 2;
          map = b === 0xde;
          break;
        case 0xdd:
        case 0xdf:
          if (left < 4) throw malformed(pos - start, 'truncated length');
          items = readU32(buf, pos);
          pos += 4;
          map = b === 0xdf;
          break;
        case 0xd4: // fixext 1: only type 0 (undefined) is plain data
          if (left < 2 || buf[pos] !== 0) {
            throw malformed(pos - start, 'extension types are not accepted');
          }
          skip = 2;
          break;
        default: // 0xc1 (never used), ext 8/16/32, fixext 2..16
          throw malformed(
            pos - start,
            b === 0xc1 ? 'invalid byte 0xc1' : 'extension types are not accepted',
          );
      }
    }
    if (items >= 0) {
      if (map) items *= 2;
      if (items === 0) continue;
      if (depth >= MAX_NESTING) throw malformed(pos - start, `nesting over ${MAX_NESTING}`);
      // Every item takes at least one byte: a count beyond the bytes left is a lie.
      if (items > end - pos) throw malformed(pos - start, 'container longer than the body');
      SCAN_NEEDS[depth] = need;
      SCAN_MAPS[depth] = inMap ? 1 : 0;
      depth++;
      need = items;
      inMap = map;
      continue;
    }
    if (skip > end - pos) throw malformed(pos - start, 'value runs past the end of the body');
    if (isKey && (skip === 9 || skip === 11)) checkKey(buf, pos, skip);
    pos += skip;
  }
  if (pos !== end) throw malformed(pos - start, 'trailing bytes after the message');
}

function readU32(buf: Uint8Array, at: number): number {
  return buf[at]! * 0x1000000 + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

function malformed(at: number, why: string): MalformedFrameError {
  return new MalformedFrameError(`malformed msgpack body at byte ${at}: ${why}`);
}

const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];

function checkKey(buf: Uint8Array, at: number, len: number): void {
  for (const key of FORBIDDEN_KEYS) {
    if (key.length !== len) continue;
    let i = 0;
    while (i < len && buf[at + i] === key.charCodeAt(i)) i++;
    if (i === len) throw new ProtocolError(`forbidden key "${key}" in a message`);
  }
}
