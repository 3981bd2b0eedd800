import { ArrayFifo } from '../../model/array-fifo.ts';
import type { JobRecord } from '../../model/job.ts';
import { PERMIT_ASKS_IN_FLIGHT } from '../../protocol/messages.ts';

interface Waiting {
  record: JobRecord;
  /** Asked of its distributor (and not yet answered), or still waiting its turn to ask. */
  asked: boolean;
}

/** One distributor's asks: how many are out, and who asks next (oldest first). */
interface Lane {
  asked: number;
  readonly next: ArrayFifo<string>;
}

/**
 * Jobs of names a distributor limits (its `limits`), waiting for its permit to start, and
 * which names each distributor limits. A waiting job holds no run slot: it is due, asked
 * for, and goes back to the ready queue (first in line) when granted. The names a
 * distributor limits are kept across its reconnects, so a job due while its link is down
 * still waits for a permit.
 *
 * At most `PERMIT_ASKS_IN_FLIGHT` asks are out per distributor (the distributor closes a
 * link that asks for more): the other waiting jobs ask, oldest first, as grants come in.
 * An ask is out from the request until its grant, on both sides (or until the link goes),
 * whatever became of its job. This is the one place that asks (through `ask`), so the
 * bound holds.
 */
export class PermitWaits {
  readonly #limited = new Map<string, ReadonlySet<string>>();
  readonly #waiting = new Map<string, Waiting>();
  readonly #lanes = new Map<string, Lane>();
  /**
   * Asks still out for jobs that left without a grant (cancelled, taken back): they count
   * until their grant comes, as they do on the distributor's side, so both count the same.
   */
  readonly #orphans = new Map<string, { distributor: string; n: number }>();
  readonly #ask: (record: JobRecord) => void;
  readonly #inFlight: number;

  /** `ask`: sends one permit request to the record's distributor (if its link is up). */
  constructor(ask: (record: JobRecord) => void, inFlight = PERMIT_ASKS_IN_FLIGHT) {
    this.#ask = ask;
    this.#inFlight = inFlight;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Distributor `distributorId` limits these names (its `limits` message). */
  limits(distributorId: string, names: readonly string[]): void {
    this.#limited.set(distributorId, new Set(names));
  }

  /** Whether `record` may start only with its distributor's permit. */
  needs(record: Pick<JobRecord, 'distributor' | 'name'>): boolean {
    if (this.#limited.size === 0) return false;
    return this.#limited.get(record.distributor)?.has(record.name) === true;
  }

  /** `record` waits for its permit: asked now, or when an ask of its distributor is answered. */
  wait(record: JobRecord): void {
    if (this.#waiting.has(record.id)) return; // waits already (and may have asked)
    const lane = this.#lane(record.distributor);
    const entry: Waiting = { record, asked: false };
    this.#waiting.set(record.id, entry);
    lane.next.push(record.id);
    this.#askNext(lane);
  }

  has(id: string): boolean {
    return this.#waiting.has(id);
  }

  /** Ids of the jobs waiting for a permit. */
  ids(): IterableIterator<string> {
    return this.#waiting.keys();
  }

  /**
   * Job `id` leaves without a grant (cancelled, taken back, run elsewhere): its record, or
   * undefined. An ask it made stays out until its grant comes (see `granted`).
   */
  take(id: string): JobRecord | undefined {
    const entry = this.#waiting.get(id);
    if (entry === undefined) return undefined;
    this.#waiting.delete(id);
    if (entry.asked) {
      const orphan = this.#orphans.get(id);
      if (orphan === undefined)
        this.#orphans.set(id, { distributor: entry.record.distributor, n: 1 });
      else orphan.n++;
    }
    return entry.record;
  }

  /**
   * The distributor granted job `id`: its record, to start now, or undefined for a job that
   * no longer waits (its ask is answered all the same). Each answered ask lets the next job
   * of that distributor ask.
   */
  granted(id: string): JobRecord | undefined {
    const orphan = this.#orphans.get(id);
    if (orphan !== undefined) {
      // The grant of an ask that outlived its job; a job of the same id waiting now asks anew.
      if (--orphan.n === 0) this.#orphans.delete(id);
      this.#answered(orphan.distributor);
      return undefined;
    }
    const entry = this.#waiting.get(id);
    if (entry === undefined) return undefined;
    this.#waiting.delete(id);
    if (entry.asked) this.#answered(entry.record.distributor);
    return entry.record;
  }

  /**
   * The link to `distributorId` is (back) up: asks made over an earlier link are gone with
   * it, so its waiting jobs ask again, oldest first, up to the bound.
   */
  relinked(distributorId: string): void {
    for (const [id, orphan] of this.#orphans) {
      if (orphan.distributor === distributorId) this.#orphans.delete(id);
    }
    const lane = this.#lane(distributorId);
    lane.asked = 0;
    lane.next.clear();
    for (const [id, entry] of this.#waiting) {
      if (entry.record.distributor !== distributorId) continue;
      entry.asked = false;
      lane.next.push(id);
    }
    this.#askNext(lane);
  }

  /** The waiting jobs of one distributor. */
  of(distributorId: string): JobRecord[] {
    const out: JobRecord[] = [];
    for (const e of this.#waiting.values()) {
      if (e.record.distributor === distributorId) out.push(e.record);
    }
    return out;
  }

  /** Asks out for one distributor (for tests and listings). */
  askedOf(distributorId: string): number {
    return this.#lanes.get(distributorId)?.asked ?? 0;
  }

  clear(): void {
    this.#waiting.clear();
    this.#lanes.clear();
    this.#orphans.clear();
  }

  #answered(distributorId: string): void {
    const lane = this.#lane(distributorId);
    if (lane.asked > 0) lane.asked--;
    this.#askNext(lane);
  }

  #lane(distributorId: string): Lane {
    let lane = this.#lanes.get(distributorId);
    if (lane === undefined) {
      lane = { asked: 0, next: new ArrayFifo() };
      this.#lanes.set(distributorId, lane);
    }
    return lane;
  }

  #askNext(lane: Lane): void {
    while (lane.asked < this.#inFlight && lane.next.size > 0) {
      const id = lane.next.shift()!;
      const entry = this.#waiting.get(id);
      // Taken meanwhile, or a stale turn of a job that waited again and asked already.
      if (entry === undefined || entry.asked) continue;
      entry.asked = true;
      lane.asked++;
      this.#ask(entry.record);
    }
  }
}
