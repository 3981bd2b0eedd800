import { ClosedError, StorageError } from '../errors.ts';
import type { Feedback, JobRecord, JobStatus } from '../model/job.ts';
import { assertNodeName } from '../model/names.ts';
import type { JobStorage } from './job-storage.ts';

/**
 * Lifecycle of a MemoryStorage:
 *   created --open()--> open --close()--> closed
 *   created --close()--> closed
 * Every data call needs `open`; before it they reject with StorageError, after `close`
 * with ClosedError. `close()` is idempotent.
 */
const State = {
  Created: 'created',
  Open: 'open',
  Closed: 'closed',
} as const;
type State = (typeof State)[keyof typeof State];

/**
 * Keeps a node's jobs and its feedback outbox in process memory: nothing survives a crash
 * (`durable` is false), so the distributor keeps such a node's jobs until their final
 * feedback. Each instance has its own maps, so two nodes in one process never share jobs.
 *
 * Records and feedbacks are stored and returned as copies: the record and its `args`,
 * `lastError` and `backoff` objects are copied one level deep. Objects nested inside
 * `args` are NOT deep-copied (that would cost a structured clone per save); the runner
 * works on its own clone and never mutates stored args in place.
 */
export class MemoryStorage implements JobStorage {
  readonly durable = false;
  #state: State = State.Created;
  #node = '';
  #jobs = new Map<string, JobRecord>();
  #feedbacks = new Map<string, Feedback>();
  /**
   * One instance of each job name, distributor id and node name: every job that arrives
   * carries fresh copies of these few strings, and a node may keep a million jobs waiting.
   */
  #strings = new Map<string, string>();

  /** The node this storage was opened for (empty before `open`). */
  get node(): string {
    return this.#node;
  }

  async open(node: string): Promise<void> {
    if (this.#state === State.Closed) throw new ClosedError('memory storage is closed');
    if (this.#state === State.Open) {
      throw new StorageError(`memory storage is already open for node ${this.#node}`);
    }
    assertNodeName(node);
    this.#node = node;
    this.#setState(State.Open);
  }

  async save(job: JobRecord): Promise<void> {
    this.#assertOpen();
    const copy = copyRecord(job);
    copy.name = this.#intern(copy.name);
    copy.distributor = this.#intern(copy.distributor);
    copy.node = this.#intern(copy.node);
    this.#jobs.set(job.id, copy);
  }

  async load(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    const job = this.#jobs.get(id);
    return job === undefined ? undefined : copyRecord(job);
  }

  async remove(id: string): Promise<void> {
    this.#assertOpen();
    this.#jobs.delete(id);
  }

  async list(filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]> {
    this.#assertOpen();
    const wanted = statusSet(filter?.status);
    const out: JobRecord[] = [];
    for (const job of this.#jobs.values()) {
      if (wanted === undefined || wanted.has(job.status)) out.push(copyRecord(job));
    }
    return out;
  }

  async saveFeedback(feedback: Feedback): Promise<void> {
    this.#assertOpen();
    this.#feedbacks.set(feedback.key, copyFeedback(feedback));
  }

  async removeFeedback(key: string): Promise<void> {
    this.#assertOpen();
    this.#feedbacks.delete(key);
  }

  async listFeedbacks(): Promise<Feedback[]> {
    this.#assertOpen();
    return [...this.#feedbacks.values()].map(copyFeedback);
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    this.#jobs.clear();
    this.#feedbacks.clear();
    this.#strings.clear();
    this.#setState(State.Closed);
  }

  #intern(value: string): string {
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    // Bounded: names and ids are few; a pathological stream of distinct ones is not kept.
    if (this.#strings.size < MAX_INTERNED) this.#strings.set(value, value);
    return value;
  }

  #setState(next: State): void {
    this.#state = next;
  }

  #assertOpen(): void {
    if (this.#state === State.Open) return;
    if (this.#state === State.Closed) throw new ClosedError('memory storage is closed');
    throw new StorageError('memory storage is not open: call open(node) first');
  }
}

const MAX_INTERNED = 10_000;

function statusSet(
  status: JobStatus | readonly JobStatus[] | undefined,
): ReadonlySet<JobStatus> | undefined {
  if (status === undefined) return undefined;
  return new Set(typeof status === 'string' ? [status] : status);
}

function copyRecord(job: JobRecord): JobRecord {
  const copy: JobRecord = { ...job, args: { ...job.args } };
  if (job.lastError !== undefined) copy.lastError = { ...job.lastError };
  if (job.backoff !== undefined) copy.backoff = { ...job.backoff };
  return copy;
}

function copyFeedback(feedback: Feedback): Feedback {
  const copy: Feedback = { ...feedback, args: { ...feedback.args } };
  if (feedback.error !== undefined) copy.error = { ...feedback.error };
  return copy;
}
