import type { JobRecord } from '../../model/job.ts';

/**
 * Jobs of names a distributor limits (its `limits`), waiting for its permit to start, and
 * which names each distributor limits. A waiting job holds no run slot: it is due, asked
 * for, and goes back to the ready queue (first in line) when granted. The names a
 * distributor limits are kept across its reconnects, so a job due while its link is down
 * still waits for a permit.
 */
export class PermitWaits {
  readonly #limited = new Map<string, ReadonlySet<string>>();
  readonly #waiting = new Map<string, JobRecord>();

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

  /** `record` waits for its permit. */
  wait(record: JobRecord): void {
    this.#waiting.set(record.id, record);
  }

  has(id: string): boolean {
    return this.#waiting.has(id);
  }

  /** Ids of the jobs waiting for a permit. */
  ids(): IterableIterator<string> {
    return this.#waiting.keys();
  }

  /** Takes job `id` out (granted, cancelled, dropped): its record, or undefined. */
  take(id: string): JobRecord | undefined {
    const record = this.#waiting.get(id);
    if (record !== undefined) this.#waiting.delete(id);
    return record;
  }

  /** The waiting jobs of one distributor (asked again when its link is back). */
  of(distributorId: string): JobRecord[] {
    const out: JobRecord[] = [];
    for (const r of this.#waiting.values()) if (r.distributor === distributorId) out.push(r);
    return out;
  }

  clear(): void {
    this.#waiting.clear();
  }
}
