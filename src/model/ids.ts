import { randomBytes } from 'node:crypto';

/** Hex characters of random bytes fetched at once: one `randomBytes` call per 256 ids. */
const POOL_BYTES = 2048;
const VARIANT = ['8', '9', 'a', 'b'];

/**
 * Time-ordered unique ids in the UUIDv7 layout (48-bit ms timestamp, version 7, a 12-bit
 * counter within the millisecond, the variant, then 62 random bits). Cheap by
 * construction, since every enqueue makes one: the timestamp part is formatted once per
 * millisecond, and the random part is cut from a pool of random hex, in pieces shorter than
 * 13 characters so that V8 copies them rather than keep the whole pool alive through them.
 */
export class IdGenerator {
  #hex = '';
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
      const hex = ms.toString(16).padStart(12, '0');
      this.#prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
    }
    if (this.#offset + 16 > this.#hex.length) {
      this.#hex = randomBytes(POOL_BYTES).toString('hex');
      this.#offset = 0;
    }
    const r = this.#hex;
    const o = this.#offset;
    this.#offset = o + 16;
    const counter = this.#counter.toString(16).padStart(3, '0');
    const variant = VARIANT[r.charCodeAt(o) & 3]!;
    return `${this.#prefix}${counter}-${variant}${r.slice(o + 1, o + 4)}-${r.slice(o + 4, o + 16)}`;
  }
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
