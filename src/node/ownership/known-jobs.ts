import type { KnownJob } from './ownership-outcomes.ts';

/**
 * The jobs a durable node holds, with just enough to end them without their record (the
 * distributor a feedback goes to, and the nonce of a caller-chosen id), for when the
 * storage loses data. Compact on purpose, one small integer per job: the distributor ids
 * are kept once in a table, and nonces (rare) in a map of their own. Memory nodes keep
 * none of this (their distributor holds their jobs).
 */
export class KnownJobs {
  readonly #jobs = new Map<string, number>();
  readonly #distributors: string[] = [];
  readonly #index = new Map<string, number>();
  readonly #nonces = new Map<string, string>();
  /** False: nothing is kept (the storage cannot lose jobs under a running node). */
  readonly #enabled: boolean;

  constructor(enabled = true) {
    this.#enabled = enabled;
  }

  get size(): number {
    return this.#jobs.size;
  }

  add(job: KnownJob): void {
    if (!this.#enabled) return;
    let n = this.#index.get(job.distributor);
    if (n === undefined) {
      n = this.#distributors.push(job.distributor) - 1;
      this.#index.set(job.distributor, n);
    }
    this.#jobs.set(job.id, n);
    if (job.nonce !== undefined) this.#nonces.set(job.id, job.nonce);
  }

  has(id: string): boolean {
    return this.#jobs.has(id);
  }

  delete(id: string): void {
    if (this.#jobs.delete(id)) this.#nonces.delete(id);
  }

  clear(): void {
    this.#jobs.clear();
    this.#nonces.clear();
  }

  /** A snapshot: the caller may delete while going through it. */
  list(): KnownJob[] {
    const out: KnownJob[] = [];
    for (const [id, n] of this.#jobs) {
      const job: KnownJob = { id, distributor: this.#distributors[n]! };
      const nonce = this.#nonces.get(id);
      if (nonce !== undefined) job.nonce = nonce;
      out.push(job);
    }
    return out;
  }
}
