import {
  ConnectionError,
  InvalidArgumentError,
  NotFoundError,
  RemoteError,
  type ErrorInfo,
} from '../errors.ts';
import type { Clock } from '../model/clock.ts';
import { JobStatus, type JobArgs } from '../model/job.ts';
import type { Logger } from '../model/logger.ts';
import type { NodeCounts, NodeJobView } from '../protocol/messages.ts';
import type { ProgressValue } from '../protocol/progress.ts';
import type { ProgressListener } from './job-handle.ts';
import { NodeQueries } from './node-queries.ts';
import type { NodeSession } from './node-session.ts';
import { TrackState, type SafeCall, type TrackedJob } from './tracked-job.ts';

/** Where a job is and how it stands, as `distributor.getJob()` reports it. */
export interface JobInfo {
  id: string;
  name: string;
  /**
   * `waiting`: in this distributor's queue (no node has room, or it is paused); `sent`: on
   * its way to a node; otherwise the node's status: `new`, `in progress`, `queued` (a
   * period or cron job between runs), `error` (a retry waits), `complete`, `failed`,
   * `cancelled` (the last three only for jobs a node keeps after they end).
   */
  state: 'waiting' | 'sent' | JobStatus;
  /** The node that holds it; null while it waits here. */
  node: string | null;
  /** Attempts made in the current cycle. */
  attempt: number;
  delivery: number;
  /** When its next attempt or run is due (a running job: this one's). */
  dueAt: Date;
  enqueuedAt: Date;
  /** Runs a period or cron job has made. */
  runs: number;
  args: JobArgs;
  priority?: number;
  /** The last value it reported with `ctx.progress()`. */
  progress?: unknown;
  /** Why its last attempt failed (a retry waits, or it failed for good). */
  lastError?: ErrorInfo;
}

/** `distributor.counts()`: jobs by where they are, per node and in total. */
export interface JobCounts {
  /** Jobs in this distributor's queue, and jobs sent and not yet stored by their node. */
  distributor: { waiting: number; sent: number };
  /** Each connected node's counts (every job it holds, whichever distributor sent it). */
  nodes: Record<string, NodeCounts>;
  /** The sums: this distributor's and every node's. */
  total: NodeCounts & { waiting: number; sent: number };
}

/** `distributor.listJobs()`: which jobs, and which page. */
export interface JobListFilter {
  /** Only jobs in this node status or these (`new`, `in progress`, `failed`, …). @default all */
  state?: JobStatus | readonly JobStatus[];
  /** Only jobs of this name. */
  name?: string;
  /** Only the jobs of the connected node of this name. @default every connected node */
  node?: string;
  /** Where the page starts: the `next` of the previous page. @default the newest job */
  cursor?: string;
  /** Jobs at most on the page, 1 to 500. @default 50 */
  limit?: number;
}

/** One page of `listJobs()`: newest first; `next` is the cursor of the following page, or null. */
export interface JobPage {
  jobs: JobInfo[];
  next: string | null;
}

export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 500;
const STATUSES: ReadonlySet<string> = new Set(Object.values(JobStatus));
const LIST_KEYS: ReadonlySet<string> = new Set(['state', 'name', 'node', 'cursor', 'limit']);

/** What the lookups need of their distributor. */
export interface QueryHost {
  clock: Clock;
  log: Logger;
  /** A tracked job by id, wherever it is (index, a session, the waiting queue); O(waiting) at worst. */
  find(id: string): TrackedJob | undefined;
  /** A tracked job found by id without a scan (the index): a durable node's, a moved one. */
  indexed(id: string): TrackedJob | undefined;
  /** The connected, open sessions. */
  sessions(): readonly NodeSession[];
  /** Jobs sent and not yet stored by their node. */
  sent(): number;
  /** Jobs in the waiting queue. */
  waiting(): number;
  call: SafeCall;
  /** Emits `job:progress`. */
  progressed(id: string, name: string, value: ProgressValue): void;
}

const EMPTY_COUNTS: NodeCounts = Object.freeze({
  running: 0,
  ready: 0,
  scheduled: 0,
  complete: 0,
  failed: 0,
});

/**
 * The application's questions about jobs (`getJob`, `counts`) and the jobs' progress
 * reports: answered from what the distributor tracks, and from the nodes over the wire
 * (`query` / `answer`) for what only a node knows (its status, attempt, due time, kept
 * jobs of a durable node).
 */
export class JobQueries {
  readonly #host: QueryHost;
  readonly #queries: NodeQueries;
  /** Progress listeners of the jobs that have some (the `onProgress` option, `handle.onProgress`). */
  readonly #listeners = new Map<TrackedJob, ProgressListener[]>();

  constructor(host: QueryHost) {
    this.#host = host;
    this.#queries = new NodeQueries(host.clock);
  }

  /** Adds a progress listener to `job`, dropped when it ends. */
  listen(job: TrackedJob, listener: ProgressListener): void {
    if (typeof listener !== 'function')
      throw new InvalidArgumentError('onProgress must be a function');
    if (job.done) return;
    const list = this.#listeners.get(job);
    if (list !== undefined) {
      list.push(listener);
      return;
    }
    this.#listeners.set(job, [listener]);
    job.result.onSettled(() => this.#listeners.delete(job));
  }

  /** Progress from `session`: to the job's listeners and the `job:progress` event. */
  progress(session: NodeSession, ids: readonly string[], values: readonly unknown[]): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      // A job that reports progress runs on a node: never in the waiting queue (no scan).
      const job = session.held.get(id) ?? this.#host.indexed(id);
      if (job === undefined || job.done) continue;
      const value = values[i] as ProgressValue;
      const name = job.spec.name;
      this.#host.progressed(id, name, value);
      const listeners = this.#listeners.get(job);
      if (listeners === undefined) continue;
      for (const listener of listeners) this.#host.call(id, () => listener(value, { id, name }));
    }
  }

  answered = (session: NodeSession, answer: Parameters<NodeQueries['answered']>[1]): void =>
    this.#queries.answered(session, answer);

  /**
   * Job `id` as it stands: from this distributor while it waits here, else from the node
   * that holds it; a job this distributor does not track (a durable node's, after a
   * restart of the application) is looked for on every connected node. Null when no one
   * knows it. Rejects with TimeoutError when a node does not answer in `timeoutMs`.
   */
  async getJob(id: string, timeoutMs: number): Promise<JobInfo | null> {
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidArgumentError('getJob needs a job id');
    }
    const job = this.#host.find(id);
    if (job !== undefined && !job.done) {
      if (job.state === TrackState.Waiting) return fromSpec(job, 'waiting', null);
      const session = this.#openSession(job.session);
      if (session !== undefined) {
        const view = await this.#ask(session, id, timeoutMs);
        if (view !== null) return fromNode(view, session.name);
      }
      // Not stored there yet (on its way), or its node is away for now.
      if (job.state === TrackState.Sent || session === undefined) {
        return fromSpec(job, 'sent', job.session?.name ?? null);
      }
    }
    // Not tracked (or finished): a node may keep it (durable storage, kept finished jobs).
    const sessions = this.#host.sessions();
    const answers = await Promise.allSettled(sessions.map((s) => this.#ask(s, id, timeoutMs)));
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!;
      if (a.status === 'fulfilled' && a.value !== null) return fromNode(a.value, sessions[i]!.name);
    }
    const failed = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    if (failed !== undefined && !(failed.reason instanceof ConnectionError)) throw failed.reason;
    return null;
  }

  /** Counts by state from every connected node (asked at once) and this distributor. */
  async counts(timeoutMs: number): Promise<JobCounts> {
    const sessions = this.#host.sessions();
    const answers = await Promise.all(
      sessions.map((s) =>
        this.#queries.ask(s, {}, timeoutMs).then(
          (a) => a.counts ?? EMPTY_COUNTS,
          (err: unknown) => {
            // A node that left meanwhile holds nothing to count.
            if (err instanceof ConnectionError) return undefined;
            throw err;
          },
        ),
      ),
    );
    const waiting = this.#host.waiting();
    const sent = this.#host.sent();
    const total = { ...EMPTY_COUNTS, waiting, sent };
    const nodes: Record<string, NodeCounts> = {};
    for (let i = 0; i < sessions.length; i++) {
      const c = answers[i];
      if (c === undefined) continue;
      nodes[sessions[i]!.name] = c;
      total.running += c.running;
      total.ready += c.ready;
      total.scheduled += c.scheduled;
      total.complete += c.complete;
      total.failed += c.failed;
    }
    return { distributor: { waiting, sent }, nodes, total };
  }

  /**
   * A page of the jobs the connected nodes hold for this distributor (running, ready,
   * scheduled, kept), newest first. Each node is asked for a page after the cursor; the
   * pages are merged. Jobs waiting in this distributor are not listed (see `counts`).
   */
  async listJobs(filter: JobListFilter, timeoutMs: number): Promise<JobPage> {
    const q = resolveFilter(filter);
    const sessions = this.#host
      .sessions()
      .filter((s) => filter.node === undefined || s.name === filter.node);
    const answers = await Promise.all(
      sessions.map((s) =>
        this.#queries.ask(s, { list: q }, timeoutMs).then(
          (a) => {
            if (a.error !== undefined) throw new RemoteError(a.error);
            return { node: s.name, jobs: a.jobs ?? [], more: a.next !== undefined };
          },
          (err: unknown) => {
            if (err instanceof ConnectionError) return undefined; // left meanwhile
            throw err;
          },
        ),
      ),
    );
    const merged: JobInfo[] = [];
    let more = false;
    for (const a of answers) {
      if (a === undefined) continue;
      more ||= a.more;
      for (const view of a.jobs) merged.push(fromNode(view, a.node));
    }
    merged.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const jobs = merged.slice(0, q.limit);
    more ||= merged.length > q.limit;
    return { jobs, next: more && jobs.length > 0 ? jobs.at(-1)!.id : null };
  }

  /**
   * Runs failed job `id` again, now, on the node that keeps it, with its attempts counted
   * from 0. Resolves with the job as it stands then; rejects with NotFoundError when
   * no connected node keeps it, or with the node's reason (not failed, storage down).
   */
  async retryJob(id: string, timeoutMs: number): Promise<JobInfo> {
    const info = await this.getJob(id, timeoutMs);
    if (info === null || info.node === null) {
      throw new NotFoundError(`no connected node keeps job ${id}`);
    }
    if (info.state !== JobStatus.Failed) {
      throw new InvalidArgumentError(
        `job ${id} is '${info.state}': only failed jobs can be retried`,
      );
    }
    const session = this.#host.sessions().find((s) => s.name === info.node);
    if (session === undefined) throw new ConnectionError(`node ${info.node} left`);
    const answer = await this.#queries.ask(session, { retry: id }, timeoutMs);
    if (answer.error !== undefined) throw new RemoteError(answer.error);
    return (await this.getJob(id, timeoutMs)) ?? info;
  }

  async #ask(session: NodeSession, id: string, timeoutMs: number): Promise<NodeJobView | null> {
    const answer = await this.#queries.ask(session, { id }, timeoutMs);
    return answer.job ?? null;
  }

  /** `session` if it is still open, else an open one of the same name (a durable node back). */
  #openSession(session: NodeSession | undefined): NodeSession | undefined {
    if (session === undefined) return undefined;
    if (!session.closed) return session;
    return this.#host.sessions().find((s) => s.name === session.name);
  }
}

function resolveFilter(filter: JobListFilter): {
  status?: string[];
  name?: string;
  after?: string;
  limit: number;
} {
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError('listJobs needs a filter object');
  }
  for (const key of Object.keys(filter)) {
    if (!LIST_KEYS.has(key)) {
      throw new InvalidArgumentError(
        `unknown listJobs filter '${key}' (known: ${[...LIST_KEYS].join(', ')})`,
      );
    }
  }
  const limit = filter.limit ?? LIST_DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX_LIMIT) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to ${LIST_MAX_LIMIT} (got ${String(filter.limit)})`,
    );
  }
  const q: { status?: string[]; name?: string; after?: string; limit: number } = { limit };
  if (filter.state !== undefined) {
    const states: readonly unknown[] = Array.isArray(filter.state) ? filter.state : [filter.state];
    for (const st of states) {
      if (typeof st !== 'string' || !STATUSES.has(st)) {
        throw new InvalidArgumentError(
          `unknown job state ${JSON.stringify(st)} (known: ${[...STATUSES].join(', ')})`,
        );
      }
    }
    q.status = states as string[];
  }
  for (const key of ['name', 'node', 'cursor'] as const) {
    const v = filter[key];
    if (v !== undefined && (typeof v !== 'string' || v === '')) {
      throw new InvalidArgumentError(`${key} must be a non-empty string`);
    }
  }
  if (filter.name !== undefined) q.name = filter.name;
  if (filter.cursor !== undefined) q.after = filter.cursor;
  return q;
}

function fromSpec(job: TrackedJob, state: 'waiting' | 'sent', node: string | null): JobInfo {
  const spec = job.spec;
  const info: JobInfo = {
    id: spec.id,
    name: spec.name,
    state,
    node,
    attempt: spec.attempt ?? 0,
    delivery: spec.delivery,
    dueAt: new Date(spec.runAt),
    enqueuedAt: new Date(spec.enqueuedAt),
    runs: spec.runs ?? 0,
    args: spec.args,
  };
  if (spec.priority !== undefined) info.priority = spec.priority;
  return info;
}

function fromNode(view: NodeJobView, node: string): JobInfo {
  const info: JobInfo = {
    id: view.id,
    name: view.name,
    state: view.status as JobStatus,
    node,
    attempt: view.attempt,
    delivery: view.delivery,
    dueAt: new Date(view.dueAt),
    enqueuedAt: new Date(view.enqueuedAt),
    runs: view.runs,
    args: view.args,
  };
  if (view.priority !== undefined) info.priority = view.priority;
  if (view.progress !== undefined) info.progress = view.progress;
  if (view.lastError !== undefined) info.lastError = view.lastError as ErrorInfo;
  return info;
}
