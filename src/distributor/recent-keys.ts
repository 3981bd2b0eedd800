/**
 * The last `capacity` feedback keys processed, so a feedback sent twice (a node resent
 * its outbox after a reconnect) runs the application's callback once. Insertion-ordered
 * Set: evicting the oldest is O(1).
 */
export class RecentKeys {
  readonly #keys = new Set<string>();
  constructor(readonly capacity: number) {}

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  add(key: string): void {
    this.#keys.add(key);
    if (this.#keys.size > this.capacity) {
      const oldest = this.#keys.values().next().value;
      if (oldest !== undefined) this.#keys.delete(oldest);
    }
  }
}
