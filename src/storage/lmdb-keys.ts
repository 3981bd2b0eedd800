/**
 * Keys of the LMDB store, in one place (as `redis-keys.ts` for Redis). Jobs and feedbacks
 * live in one database each, every key led by its node's name, so a node's entries are
 * one key range:
 *
 *   <node name, UTF-8> 0x00 <id>
 *
 * `<id>` is 0x01 + 16 bytes for an id in the lowercase UUID layout the distributor makes
 * (36 characters stored as 17 bytes, in the same order, so time-ordered ids append at the
 * end of the tree and its pages stay full), else 0x02 + the id in UTF-8 (idempotency keys
 * chosen by the application). Node names never hold 0x00 (see `model/names.ts`), so node
 * `a` and node `ab` never share a range.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PACKED = 0x01;
const TEXT = 0x02;

/** The key prefix of one node's entries, and the bounds of its range. */
export class NodeKeyspace {
  readonly node: string;
  readonly #prefix: Buffer;
  /** First key after the node's range (its prefix with 0x00 raised to 0x01). */
  readonly end: Buffer;

  constructor(node: string) {
    this.node = node;
    this.#prefix = Buffer.from(`${node}\0`, 'utf8');
    this.end = Buffer.from(this.#prefix);
    this.end[this.end.length - 1] = 0x01;
  }

  get start(): Buffer {
    return this.#prefix;
  }

  key(id: string): Buffer {
    const p = this.#prefix;
    if (id.length === 36 && UUID.test(id)) {
      const out = Buffer.allocUnsafe(p.length + 17);
      p.copy(out, 0);
      out[p.length] = PACKED;
      out.write(id.replaceAll('-', ''), p.length + 1, 'hex');
      return out;
    }
    const out = Buffer.allocUnsafe(p.length + 1 + Buffer.byteLength(id, 'utf8'));
    p.copy(out, 0);
    out[p.length] = TEXT;
    out.write(id, p.length + 1, 'utf8');
    return out;
  }

  /** The id of a key of this range. */
  id(key: Buffer): string {
    const at = this.#prefix.length;
    if (key[at] === PACKED) {
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
