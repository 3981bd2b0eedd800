/** One node's last feedback keys, oldest overwritten first. */
interface NodeRing {
  keys: (string | undefined)[];
  next: number;
  /** Its sessions now open (a name may reconnect before its old link is seen to close). */
  sessions: number;
}

/**
 * The feedback keys processed lately, per sending node, so that a feedback sent twice runs
 * the application's callback once. A node sends one again only from its outbox, which
 * holds at most its `maxPendingFeedbacks` (told in its hello) unacknowledged: so its last
 * that many keys are always enough, however fast other nodes go. (One ring for every node
 * forgot a slow node's keys within a second while a fast one did 100k jobs/s.) A node that
 * dies for good may have its outbox adopted by a peer: its ring stays, and `has` looks in
 * every ring.
 *
 * Rings of nodes that are gone are kept for the MAX_IDLE_RINGS most recently gone names.
 * A ring of keys beside one Set: evicting the oldest is O(1). (Evicting through
 * `set.values().next()` is not: the iterator walks over every deleted slot until the Set
 * rehashes, which cost ~2 µs per feedback at 100k keys.)
 */
export class RecentFeedbacks {
  static readonly MAX_IDLE_RINGS = 64;
  /** The largest ring one node gets, whatever its hello says. */
  static readonly MAX_RING = 100_000;
  readonly #keys = new Set<string>();
  readonly #rings = new Map<string, NodeRing>();
  /** Names with no session open, the longest gone first. */
  readonly #idle = new Set<string>();

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Node `node` (with an outbox of `window` feedbacks) has a session now. */
  opened(node: string, window: number): void {
    const size = Math.max(1, Math.min(window, RecentFeedbacks.MAX_RING));
    let ring = this.#rings.get(node);
    if (ring === undefined) {
      ring = { keys: new Array<string | undefined>(size).fill(undefined), next: 0, sessions: 0 };
      this.#rings.set(node, ring);
    } else if (ring.keys.length < size) {
      // Grown (its outbox was raised): the old keys stay, oldest first.
      const old = [...ring.keys.slice(ring.next), ...ring.keys.slice(0, ring.next)];
      ring.keys = [...old, ...new Array<string | undefined>(size - old.length).fill(undefined)];
      ring.next = old.length;
    }
    ring.sessions++;
    this.#idle.delete(node);
  }

  /** A session of node `node` closed. */
  closed(node: string): void {
    const ring = this.#rings.get(node);
    if (ring === undefined || --ring.sessions > 0) return;
    this.#idle.add(node);
    if (this.#idle.size <= RecentFeedbacks.MAX_IDLE_RINGS) return;
    const oldest = this.#idle.values().next().value!;
    this.#idle.delete(oldest);
    const gone = this.#rings.get(oldest)!;
    this.#rings.delete(oldest);
    for (const key of gone.keys) if (key !== undefined) this.#keys.delete(key);
  }

  /** Remembers `key`, processed from `node` (a node without a session: nothing kept). */
  add(node: string, key: string): void {
    const ring = this.#rings.get(node);
    if (ring === undefined) return;
    const keys = this.#keys;
    const before = keys.size;
    keys.add(key);
    if (keys.size === before) return; // known already
    const oldest = ring.keys[ring.next];
    if (oldest !== undefined) keys.delete(oldest);
    ring.keys[ring.next] = key;
    ring.next = ring.next + 1 === ring.keys.length ? 0 : ring.next + 1;
  }

  /** Keys remembered, over every ring. */
  get size(): number {
    return this.#keys.size;
  }
}
