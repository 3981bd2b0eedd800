import { randomBytes } from 'node:crypto';

/**
 * Time-ordered unique ids in the UUIDv7 layout (48-bit ms timestamp, then a counter and
 * random bits). Random bytes come from a pool refilled in 4 KiB blocks, because one
 * `randomBytes` call per job costs more than the rest of the id.
 */
export class IdGenerator {
  #pool = Buffer.alloc(0);
  #offset = 0;
  #lastMs = 0;
  #counter = 0;

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
    const rand = this.#take(8);
    const hex = ms.toString(16).padStart(12, '0');
    const counter = (0x7000 | this.#counter).toString(16);
    const variant = ((rand[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0');
    const tail = rand.toString('hex', 1, 8);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${counter}-${variant}${tail.slice(0, 2)}-${tail.slice(2, 14)}`;
  }

  #take(n: number): Buffer {
    if (this.#offset + n > this.#pool.length) {
      this.#pool = randomBytes(4096);
      this.#offset = 0;
    }
    const out = this.#pool.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
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
