/** Options of {@link MinHeap}. */
export interface MinHeapOptions<T> {
  /** Negative when `a` comes before `b`, positive when after, 0 when equal. */
  compare: (a: T, b: T) => number;
  /**
   * Told the item's new index whenever it moves, and -1 when it leaves the heap, so a holder
   * can find it again for {@link MinHeap.removeAt} and {@link MinHeap.update} in O(log n).
   */
  onMove?: (item: T, index: number) => void;
}

/** A binary min-heap over an array. push, pop, removeAt and update are O(log n). */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #compare: (a: T, b: T) => number;
  readonly #onMove: (item: T, index: number) => void;

  constructor(options: MinHeapOptions<T>) {
    this.#compare = options.compare;
    this.#onMove = options.onMove ?? noop;
  }

  get size(): number {
    return this.#items.length;
  }

  /** The smallest item, left in place. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** The item at `index` (heap order, not sorted order). */
  at(index: number): T | undefined {
    return this.#items[index];
  }

  push(item: T): void {
    const index = this.#items.push(item) - 1;
    this.#onMove(item, index);
    this.#siftUp(index);
  }

  /** Removes and returns the smallest item. */
  pop(): T | undefined {
    return this.removeAt(0);
  }

  /** Removes and returns the item at `index`; undefined when out of range. */
  removeAt(index: number): T | undefined {
    const items = this.#items;
    if (index < 0 || index >= items.length) return undefined;
    const removed = items[index]!;
    const last = items.pop()!;
    if (index < items.length) {
      items[index] = last;
      this.#onMove(last, index);
      // The moved item may belong above or below its new place.
      if (!this.#siftUp(index)) this.#siftDown(index);
    }
    this.#onMove(removed, -1);
    return removed;
  }

  /** Restores order after the item at `index` changed its key. */
  update(index: number): void {
    if (index < 0 || index >= this.#items.length) return;
    if (!this.#siftUp(index)) this.#siftDown(index);
  }

  clear(): void {
    for (const item of this.#items) this.#onMove(item, -1);
    this.#items.length = 0;
  }

  /** The items in heap order (unsorted); a copy. */
  toArray(): T[] {
    return this.#items.slice();
  }

  /** Moves the item at `index` up while it is smaller than its parent; true when it moved. */
  #siftUp(index: number): boolean {
    const items = this.#items;
    const item = items[index]!;
    let i = index;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex]!;
      if (this.#compare(item, parent) >= 0) break;
      items[i] = parent;
      this.#onMove(parent, i);
      i = parentIndex;
    }
    if (i === index) return false;
    items[i] = item;
    this.#onMove(item, i);
    return true;
  }

  #siftDown(index: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[index]!;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#compare(items[right]!, items[left]!) < 0) child = right;
      const childItem = items[child]!;
      if (this.#compare(childItem, item) >= 0) break;
      items[i] = childItem;
      this.#onMove(childItem, i);
      i = child;
    }
    if (i !== index) {
      items[i] = item;
      this.#onMove(item, i);
    }
  }
}

function noop(): void {}
