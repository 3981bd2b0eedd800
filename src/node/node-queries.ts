import { toErrorInfo, type ErrorInfo } from '../errors.ts';
import type { JobRecord, JobStatus } from '../model/job.ts';
import type {
  AnswerMessage,
  ListQuery,
  NodeCounts,
  NodeJobView,
  QueryMessage,
} from '../protocol/messages.ts';

/** Where a node looks for a job and its counts (see WorkerNode). */
export interface QuerySources {
  /** A running attempt's record and latest progress. */
  running(id: string): { record: JobRecord; progress?: unknown } | undefined;
  /** A due job waiting for a slot, when its record is at hand. */
  queued(id: string): JobRecord | undefined;
  /** The stored record (delayed, between runs, retrying, or kept after it ended). */
  load(id: string): Promise<JobRecord | undefined>;
  counts(): NodeCounts;
  /** The records of the running attempts (fresher than their stored copies). */
  runningRecords(): Iterable<JobRecord>;
  /** The stored records, of these statuses only when given. */
  list(status: readonly JobStatus[] | undefined): Promise<JobRecord[]>;
  /** Ids of the kept finished jobs of this status (the retention index), in no order. */
  kept(status: 'complete' | 'failed'): Iterable<string>;
  /**
   * Puts failed kept job `id` of `distributorId` back to be run now; rejects with a
   * JobReactorError saying why not (unknown here, not failed, storage down).
   */
  retry(id: string, distributorId: string): Promise<void>;
}

/**
 * Answers a distributor's `query`: job `id` as this node holds it (only a job of that
 * distributor: another's jobs are not its business), or the node's counts. Never rejects:
 * a storage that fails to load reads as "not here".
 */
export async function answerQuery(
  m: QueryMessage,
  distributorId: string,
  sources: QuerySources,
): Promise<AnswerMessage> {
  if (m.list !== undefined) {
    try {
      return { t: 'answer', req: m.req, ...(await listPage(m.list, distributorId, sources)) };
    } catch (err) {
      return { t: 'answer', req: m.req, jobs: [], error: toErrorInfo(err) };
    }
  }
  if (m.retry !== undefined) {
    const error = await sources.retry(m.retry, distributorId).then(
      () => undefined,
      (err: unknown): ErrorInfo => toErrorInfo(err),
    );
    return error === undefined
      ? { t: 'answer', req: m.req, retried: true }
      : { t: 'answer', req: m.req, retried: false, error };
  }
  if (m.id === undefined) return { t: 'answer', req: m.req, counts: sources.counts() };
  const running = sources.running(m.id);
  const record =
    running?.record ?? sources.queued(m.id) ?? (await sources.load(m.id).catch(() => undefined));
  if (record === undefined || record.distributor !== distributorId) {
    return { t: 'answer', req: m.req, job: null };
  }
  return { t: 'answer', req: m.req, job: jobView(record, running?.progress) };
}

/**
 * A page of `distributorId`'s jobs here, newest id first (ids are time-ordered), after
 * cursor `q.after`. A scan of the stored records: an operator's question, not a hot path.
 */
async function listPage(
  q: ListQuery,
  distributorId: string,
  sources: QuerySources,
): Promise<{ jobs: NodeJobView[]; next?: string }> {
  const statuses = q.status?.length ? new Set(q.status) : undefined;
  if (statuses !== undefined && [...statuses].every((s) => s === 'complete' || s === 'failed')) {
    return keptPage(q, statuses as Set<'complete' | 'failed'>, distributorId, sources);
  }
  const byId = new Map<string, JobRecord>();
  // A running attempt's stored status may lag behind: list every status, then overlay.
  for (const r of await sources.list(undefined)) byId.set(r.id, r);
  for (const r of sources.runningRecords()) byId.set(r.id, r);
  const matching: JobRecord[] = [];
  for (const r of byId.values()) {
    if (r.distributor !== distributorId) continue;
    if (statuses !== undefined && !statuses.has(r.status)) continue;
    if (q.name !== undefined && r.name !== q.name) continue;
    if (q.after !== undefined && r.id >= q.after) continue;
    matching.push(r);
  }
  matching.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const page = matching.slice(0, q.limit);
  const jobs = page.map((r) => jobView(r, sources.running(r.id)?.progress));
  return matching.length > q.limit ? { jobs, next: page.at(-1)!.id } : { jobs };
}

/**
 * A page of kept finished jobs (the dashboard polls the failed ones every few seconds):
 * from the retention index, loading only the records of the page, so a node holding a
 * million waiting jobs is not scanned for it.
 */
async function keptPage(
  q: ListQuery,
  statuses: ReadonlySet<'complete' | 'failed'>,
  distributorId: string,
  sources: QuerySources,
): Promise<{ jobs: NodeJobView[]; next?: string }> {
  const ids: string[] = [];
  for (const status of statuses) {
    for (const id of sources.kept(status)) if (q.after === undefined || id < q.after) ids.push(id);
  }
  ids.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const jobs: NodeJobView[] = [];
  let i = 0;
  // Records of other distributors or names are skipped; load in small parallel runs.
  while (i < ids.length && jobs.length <= q.limit) {
    const run = ids.slice(i, i + q.limit + 1);
    i += run.length;
    const records = await Promise.all(run.map((id) => sources.load(id).catch(() => undefined)));
    for (const r of records) {
      if (r === undefined || r.distributor !== distributorId) continue;
      if (!statuses.has(r.status as 'complete' | 'failed')) continue;
      if (q.name !== undefined && r.name !== q.name) continue;
      jobs.push(jobView(r, undefined));
    }
  }
  if (jobs.length <= q.limit) return { jobs };
  const page = jobs.slice(0, q.limit);
  return { jobs: page, next: page.at(-1)!.id };
}

/** What a lookup shows of a record: its place and progress, not the node's bookkeeping. */
export function jobView(record: JobRecord, progress: unknown): NodeJobView {
  const view: NodeJobView = {
    id: record.id,
    name: record.name,
    status: record.status,
    attempt: record.attempt,
    delivery: record.delivery,
    dueAt: record.dueAt,
    enqueuedAt: record.enqueuedAt,
    runs: record.runs,
    args: record.args,
  };
  if (record.priority !== undefined) view.priority = record.priority;
  const p = progress ?? record.progress;
  if (p !== undefined) view.progress = p;
  if (record.lastError !== undefined) view.lastError = record.lastError;
  return view;
}
