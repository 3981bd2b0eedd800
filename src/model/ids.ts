import { randomBytes } from 'node:crypto';

/**
 * The 64 characters of a job id, in ascending ASCII order, so that ids sort as the numbers
 * they spell: digits, `A`–`Z`, `_`, `a`–`z`, `~`. All are URL-safe and need no quoting in a
 * shell, a Redis key or a file name; none is `-`, so no id reads as a command-line flag.
 */
export const ID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';
/** Characters of an id made by {@link IdGenerator}. */
export const ID_LENGTH = 22;

/** Random bytes fetched at once: one `randomBytes` call per ~227 ids. */
const POOL_BYTES = 2048;
/** Random characters per id: 72 bits. */
const RANDOM_CHARS = 12;

/**
 * Time-ordered unique ids of 22 characters of {@link ID_ALPHABET}, 6 bits each: a 48-bit
 * ms timestamp (8 characters), a 12-bit counter within the millisecond (2), then 72 random
 * bits (12). They sort by creation time within one generator and, to the millisecond,
 * across generators; two distributors collide only when they draw the same 72 random bits
 * in the same millisecond and counter slot. A UUIDv7 carries less (62 random bits) in
 * 36 characters: every job's id crosses the wire five times and is a key in every storage,
 * so 14 characters fewer are ~70 bytes per job on the wire (of ~240) and less of every
 * process's work per job (measured in bench/PROPOSALS.md, sixth session).
 *
 * Cheap by construction, since every enqueue makes one: the timestamp part is formatted
 * once per millisecond, and the random part is cut from a pool of random characters, in
 * pieces shorter than 13 characters so that V8 copies them rather than keep the whole pool
 * alive through them.
 */
export class IdGenerator {
  #pool = '';
  #offset = 0;
  #lastMs = 0;
  #counter = 0;
  #prefixMs = -1;
  #prefix = '';

  next(now: number = Date.now()): string {
    if (now <= this.#lastMs) {
      // Same (or earlier, after a clock step) millisecond: keep order with a counter.
      this.#counter++;
      if (this.#counter > 0xfff) {
        this.#lastMs++;
        this.#counter = 0;
      }
    } else {
      this.#lastMs = now;
      this.#counter = 0;
    }
    const ms = this.#lastMs;
    if (ms !== this.#prefixMs) {
      this.#prefixMs = ms;
      this.#prefix = encodeMs(ms);
    }
    if (this.#offset + RANDOM_CHARS > this.#pool.length) {
      // base64url's alphabet is ID_ALPHABET's with `-` for `~`.
      this.#pool = randomBytes(POOL_BYTES).toString('base64url').replaceAll('-', '~');
      this.#offset = 0;
    }
    const o = this.#offset;
    this.#offset = o + RANDOM_CHARS;
    const c = this.#counter;
    return (
      this.#prefix +
      ID_ALPHABET[c >> 6]! +
      ID_ALPHABET[c & 63]! +
      this.#pool.slice(o, o + RANDOM_CHARS)
    );
  }
}

/** The 8 characters of a 48-bit ms timestamp, most significant first. */
function encodeMs(ms: number): string {
  let out = '';
  let v = ms;
  for (let i = 0; i < 8; i++) {
    out = ID_ALPHABET[v % 64]! + out;
    v = Math.floor(v / 64);
  }
  return out;
}

/** A random id for instances and nonces. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * A copy of `s` that owns its characters. msgpackr (with its native string extractor)
 * returns slices of one string that spans several values of a message, so an id kept
 * for hours (a waiting job's map keys) would keep that whole text alive: ~120 B more per
 * waiting job. The JSON round trip copies any string exactly, lone surrogates included.
 */
export function ownedCopy(s: string): string {
  // V8 copies strings shorter than 13 characters instead of slicing them.
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}
