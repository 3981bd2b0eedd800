import { ClosedError, StorageError } from '../errors.ts';
import type { Feedback, JobRecord, JobStatus } from '../model/job.ts';
import { assertNodeName } from '../model/names.ts';
import type { JobStorage } from './job-storage.ts';
import { decodeRecord, encodeRecord, StringTable } from './record-codec.ts';

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
 * Records are kept encoded, as the compact msgpack tuple of `record-codec.ts` held in a
 * latin1 string (about 100 B for a small job): a node may keep a million jobs waiting, and
 * one flat string per job is a third of the memory of a record object with its `args`,
 * and nothing for the garbage collector to trace. So every `load` returns a fresh copy,
 * and `save` rejects what msgpack cannot encode, as the Redis storage does. Feedbacks are
 * transient (kept until acknowledged) and are kept as objects, copied one level deep.
 */
export class MemoryStorage implements JobStorage {
  readonly durable = false;
  #state: State = State.Created;
  #node = '';
  /** Job id → encoded record (see the class comment). */
  #jobs = new Map<string, string>();
  #feedbacks = new Map<string, Feedback>();
  /** Job names and distributor ids, stored once (see StringTable). */
  #strings = new StringTable();

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
    this.#jobs.set(job.id, encodeRecord(job, this.#strings).toString('latin1'));
  }

  async load(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    const value = this.#jobs.get(id);
    return value === undefined ? undefined : this.#decode(value, id);
  }

  async remove(id: string): Promise<void> {
    this.#assertOpen();
    this.#jobs.delete(id);
  }

  async list(filter?: { status?: JobStatus | readonly JobStatus[] }): Promise<JobRecord[]> {
    this.#assertOpen();
    const wanted = statusSet(filter?.status);
    const out: JobRecord[] = [];
    for (const [id, value] of this.#jobs) {
      const job = this.#decode(value, id);
      if (wanted === undefined || wanted.has(job.status)) out.push(job);
    }
    return out;
  }

  async saveFeedback(feedback: Feedback): Promise<void> {
    this.#assertOpen();
    this.#feedbacks.set(feedback.key, copyFeedback(feedback));
  }

  async finish(id: string, record: JobRecord | undefined, feedback: Feedback): Promise<void> {
    this.#assertOpen();
    if (record === undefined) this.#jobs.delete(id);
    else this.#jobs.set(id, encodeRecord(record, this.#strings).toString('latin1'));
    this.#feedbacks.set(feedback.key, copyFeedback(feedback));
  }

  async removeFeedback(keys: readonly string[]): Promise<void> {
    this.#assertOpen();
    for (const key of keys) this.#feedbacks.delete(key);
  }

  async listFeedbacks(): Promise<Feedback[]> {
    this.#assertOpen();
    return [...this.#feedbacks.values()].map(copyFeedback);
  }

  async close(): Promise<void> {
    if (this.#state === State.Closed) return;
    this.#jobs.clear();
    this.#feedbacks.clear();
    this.#setState(State.Closed);
  }

  #decode(value: string, id: string): JobRecord {
    return decodeRecord(Buffer.from(value, 'latin1'), id, this.#node, this.#strings);
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

function statusSet(
  status: JobStatus | readonly JobStatus[] | undefined,
): ReadonlySet<JobStatus> | undefined {
  if (status === undefined) return undefined;
  return new Set(typeof status === 'string' ? [status] : status);
}

function copyFeedback(feedback: Feedback): Feedback {
  const copy: Feedback = { ...feedback, args: { ...feedback.args } };
  if (feedback.error !== undefined) copy.error = { ...feedback.error };
  return copy;
}
