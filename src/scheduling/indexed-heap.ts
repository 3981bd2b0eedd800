/**
 * A binary min-heap of keys ordered by (due, seq) ascending, with a key → position index, so
 * a key can be found, moved or removed in O(log n).
 *
 * Stored as parallel arrays (`keys[i]`, `due[i]`, `seq[i]` describe heap slot `i`) plus a
 * `Map` from key to its slot, instead of one object per entry: the arrays hold numbers and
 * key references only, and the Map's values are small integers (Smis), so an entry costs no
 * allocation of its own. This is what keeps millions of waiting timers cheap.
 *
 * `seq` is the caller's tie-break between equal `due` values and must be unique per entry.
 * Indexes passed to the `*At` methods, `update` and `removeAt` are heap slots (0 is the
 * smallest); the readers expect `0 <= index < size`.
 */
export class IndexedHeap<K> {
  readonly #keys: K[] = [];
  /** Due times; epoch ms are not Smis, so V8 keeps this as an unboxed double array. */
  readonly #due: number[] = [];
  readonly #seq: number[] = [];
  readonly #index = new Map<K, number>();

  get size(): number {
    return this.#keys.length;
  }

  has(key: K): boolean {
    return this.#index.has(key);
  }

  /** Every key, in no order. */
  keys(): IterableIterator<K> {
    return this.#index.keys();
  }

  /** The heap slot of `key`, -1 when it is not in the heap; 0 is the smallest entry. */
  indexOf(key: K): number {
    const index = this.#index.get(key);
    return index === undefined ? -1 : index;
  }

  keyAt(index: number): K {
    return this.#keys[index] as K;
  }

  dueAt(index: number): number {
    return this.#due[index]!;
  }

  seqAt(index: number): number {
    return this.#seq[index]!;
  }

  /** Adds `key`, which must not be in the heap yet. */
  push(key: K, due: number, seq: number): void {
    // The new slot starts empty at the end; #settle fills it (appending) or moves parents in.
    this.#settle(this.#keys.length, key, due, seq);
  }

  /** Gives the entry at `index` a new (due, seq) and moves it to its place. */
  update(index: number, due: number, seq: number): void {
    if (index < 0 || index >= this.#keys.length) return;
    this.#settle(index, this.#keys[index] as K, due, seq);
  }

  /** Removes the entry at `index`; out-of-range indexes are ignored. */
  removeAt(index: number): void {
    const keys = this.#keys;
    if (index < 0 || index >= keys.length) return;
    this.#index.delete(keys[index] as K);
    // Pop (so the arrays shrink as entries leave) and put the former last entry in the hole.
    const lastKey = keys.pop() as K;
    const lastDue = this.#due.pop()!;
    const lastSeq = this.#seq.pop()!;
    if (index < keys.length) this.#settle(index, lastKey, lastDue, lastSeq);
  }

  clear(): void {
    // length = 0 drops the backing stores, not just the contents.
    this.#keys.length = 0;
    this.#due.length = 0;
    this.#seq.length = 0;
    this.#index.clear();
  }

  /**
   * Puts (key, due, seq) into slot `hole` (its current contents, if any, are overwritten) and
   * moves it up, or else down, to where it belongs, recording the new slot of every entry
   * it passes and its own. Moves shift the passed entries into the hole instead of swapping,
   * and use no closures or temporary objects: this is the hot path of every operation.
   */
  #settle(hole: number, key: K, due: number, seq: number): void {
    const keys = this.#keys;
    const dues = this.#due;
    const seqs = this.#seq;
    const index = this.#index;
    let i = hole;
    // Up: while the parent comes after the entry, move the parent down into the hole.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentDue = dues[parent]!;
      const parentSeq = seqs[parent]!;
      if (parentDue < due || (parentDue === due && parentSeq < seq)) break;
      const parentKey = keys[parent] as K;
      keys[i] = parentKey;
      dues[i] = parentDue;
      seqs[i] = parentSeq;
      index.set(parentKey, i);
      i = parent;
    }
    if (i === hole) {
      // Down: while the smaller child comes before the entry, move that child up.
      const n = keys.length;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        let childDue = dues[child]!;
        let childSeq = seqs[child]!;
        const right = child + 1;
        if (right < n) {
          const rightDue = dues[right]!;
          const rightSeq = seqs[right]!;
          if (rightDue < childDue || (rightDue === childDue && rightSeq < childSeq)) {
            child = right;
            childDue = rightDue;
            childSeq = rightSeq;
          }
        }
        if (!(childDue < due || (childDue === due && childSeq < seq))) break;
        const childKey = keys[child] as K;
        keys[i] = childKey;
        dues[i] = childDue;
        seqs[i] = childSeq;
        index.set(childKey, i);
        i = child;
      }
    }
    keys[i] = key;
    dues[i] = due;
    seqs[i] = seq;
    index.set(key, i);
  }
}
