import { ID_ALPHABET, ID_LENGTH } from '../model/ids.ts';

/**
 * Keys of the LMDB store, in one place (as `redis-keys.ts` for Redis). Jobs and feedbacks
 * live in one database each, every key led by its node's name, so a node's entries are
 * one key range:
 *
 *   <node name, UTF-8> 0x00 <id>
 *
 * `<id>` is 0x03 + 17 bytes for an id of the layout the distributor makes (22 characters of
 * ID_ALPHABET, 6 bits each, in the same order, so time-ordered ids append at the end of
 * the tree and its pages stay full); 0x01 + 16 bytes for a lowercase UUID (the ids
 * distributors made before, still read and written as they were); else 0x02 + the id in UTF-8
 * (idempotency keys chosen by the application). Node names never hold 0x00 (see
 * `model/names.ts`), so node `a` and node `ab` never share a range.
 */
const PACKED_UUID = 0x01;
const TEXT = 0x02;
const PACKED_ID = 0x03;
/** Bytes of a packed id after its tag: 22 × 6 bits = 132, in 17 bytes (4 bits unused). */
const PACKED_ID_BYTES = 17;

/** ID_ALPHABET character → its 6-bit value; -1 for anything else. */
const SIXBIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ID_ALPHABET.length; i++) SIXBIT[ID_ALPHABET.charCodeAt(i)] = i;

/** Lowercase hex digit → value; -1 for anything else (uppercase ids are stored as text). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

/**
 * Writes the 16 bytes of `id` at `at` when it is a lowercase UUID (36 characters, dashes at
 * 8, 13, 18, 23); false, with `out` partly written, otherwise. One pass over the string,
 * no regular expression or temporary string: it runs for every write of every job.
 */
function packUuid(id: string, out: Buffer, at: number): boolean {
  let o = at;
  for (let i = 0; i < 36;) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 45) return false;
      i++;
      continue;
    }
    const a = id.charCodeAt(i);
    const b = id.charCodeAt(i + 1);
    const hi = a < 128 ? HEX[a]! : -1;
    const lo = b < 128 ? HEX[b]! : -1;
    if (hi < 0 || lo < 0) return false;
    out[o++] = (hi << 4) | lo;
    i += 2;
  }
  return true;
}

/**
 * Writes the 17 bytes of `id` at `at` when it is ID_LENGTH characters of ID_ALPHABET (the
 * distributor's ids); false, with `out` partly written, otherwise. Four characters make
 * three bytes; the last two make 12 bits, padded with 4 zero bits.
 */
function packId(id: string, out: Buffer, at: number): boolean {
  let o = at;
  for (let i = 0; i < 20; i += 4) {
    const a = sixbit(id, i);
    const b = sixbit(id, i + 1);
    const c = sixbit(id, i + 2);
    const d = sixbit(id, i + 3);
    if ((a | b | c | d) < 0) return false;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  const e = sixbit(id, 20);
  const f = sixbit(id, 21);
  if ((e | f) < 0) return false;
  out[o++] = (e << 2) | (f >> 4);
  out[o] = (f & 0x0f) << 4;
  return true;
}

function sixbit(id: string, i: number): number {
  const c = id.charCodeAt(i);
  return c < 128 ? SIXBIT[c]! : -1;
}

/** The id packed at `at` by {@link packId}. */
function unpackId(key: Buffer, at: number): string {
  let out = '';
  let o = at;
  for (let i = 0; i < 5; i++) {
    const v = (key[o]! << 16) | (key[o + 1]! << 8) | key[o + 2]!;
    o += 3;
    out +=
      ID_ALPHABET[v >> 18]! +
      ID_ALPHABET[(v >> 12) & 63]! +
      ID_ALPHABET[(v >> 6) & 63]! +
      ID_ALPHABET[v & 63]!;
  }
  const v = (key[o]! << 8) | key[o + 1]!;
  return out + ID_ALPHABET[v >> 10]! + ID_ALPHABET[(v >> 4) & 63]!;
}

/** The key prefix of one node's entries, and the bounds of its range. */
export class NodeKeyspace {
  readonly node: string;
  readonly #prefix: Buffer;
  /** First key after the node's range (its prefix with 0x00 raised to 0x01). */
  readonly end: Buffer;
  /** The packed key of {@link writeKey}: the prefix and the tag set once, the id per call. */
  readonly #scratch: Buffer;
  /** As #scratch, for a UUID. */
  readonly #scratchUuid: Buffer;

  constructor(node: string) {
    this.node = node;
    this.#prefix = Buffer.from(`${node}\0`, 'utf8');
    this.end = Buffer.from(this.#prefix);
    this.end[this.end.length - 1] = 0x01;
    this.#scratch = Buffer.alloc(this.#prefix.length + 1 + PACKED_ID_BYTES);
    this.#prefix.copy(this.#scratch, 0);
    this.#scratch[this.#prefix.length] = PACKED_ID;
    this.#scratchUuid = Buffer.alloc(this.#prefix.length + 17);
    this.#prefix.copy(this.#scratchUuid, 0);
    this.#scratchUuid[this.#prefix.length] = PACKED_UUID;
  }

  get start(): Buffer {
    return this.#prefix;
  }

  key(id: string): Buffer {
    const p = this.#prefix;
    if (id.length === ID_LENGTH) {
      const out = Buffer.allocUnsafe(p.length + 1 + PACKED_ID_BYTES);
      if (packId(id, out, p.length + 1)) {
        p.copy(out, 0);
        out[p.length] = PACKED_ID;
        return out;
      }
    } else if (id.length === 36) {
      const out = Buffer.allocUnsafe(p.length + 17);
      if (packUuid(id, out, p.length + 1)) {
        p.copy(out, 0);
        out[p.length] = PACKED_UUID;
        return out;
      }
    }
    const out = Buffer.allocUnsafe(p.length + 1 + Buffer.byteLength(id, 'utf8'));
    p.copy(out, 0);
    out[p.length] = TEXT;
    out.write(id, p.length + 1, 'utf8');
    return out;
  }

  /**
   * The key of `id` for a write that copies it at once (lmdb-js's `put` and `remove` do, into
   * their instruction buffer): a packed id comes in one buffer reused by every call, valid
   * until the next one, so the four writes of a job allocate no key.
   */
  writeKey(id: string): Buffer {
    const at = this.#prefix.length + 1;
    if (id.length === ID_LENGTH && packId(id, this.#scratch, at)) return this.#scratch;
    if (id.length === 36 && packUuid(id, this.#scratchUuid, at)) return this.#scratchUuid;
    return this.key(id);
  }

  /** The id of a key of this range. */
  id(key: Buffer): string {
    const at = this.#prefix.length;
    if (key[at] === PACKED_ID) return unpackId(key, at + 1);
    if (key[at] === PACKED_UUID) {
      const h = key.toString('hex', at + 1, at + 17);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    return key.toString('utf8', at + 1);
  }
}

/** The meta key of a node's lease record. */
export function leaseKey(node: string): string {
  return `lease/${node}`;
}

/** The meta keys of every lease, for a range scan. */
export const LEASE_RANGE = { start: 'lease/', end: 'lease0' } as const;
