import { toErrorInfo, type ErrorInfo } from '../errors.ts';
import type { JobRecord } from '../model/job.ts';
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
  /** Ids of the running attempts' jobs (the only ones `in progress`). */
  runningIds(): Iterable<string>;
  /**
   * Ids of every other job held and not finished: on a timer, due, being stored, held back
   * (some may repeat). With the running and the kept ones, every record the node stores.
   */
  waitingIds(): Iterable<string>;
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
  const found = await current(m.id, sources);
  if (found === undefined || found[0].distributor !== distributorId) {
    return { t: 'answer', req: m.req, job: null };
  }
  return { t: 'answer', req: m.req, job: jobView(found[0], found[1]) };
}

const KEPT_STATUSES = ['complete', 'failed'] as const;
/** Statuses no waiting job has: a running attempt's, and those kept after the end. */
const FOUND_ELSEWHERE: ReadonlySet<string> = new Set(['in progress', ...KEPT_STATUSES]);

/**
 * A page of `distributorId`'s jobs here, newest id first (ids are time-ordered), after
 * cursor `q.after`. The candidates come from the node's own indexes (the jobs it holds,
 * and the retention index when finished ones are asked for), and only the page's records
 * are loaded: a node holding a million jobs is not scanned for it (the dashboard polls
 * the failed ones every few seconds).
 */
async function listPage(
  q: ListQuery,
  distributorId: string,
  sources: QuerySources,
): Promise<{ jobs: NodeJobView[]; next?: string }> {
  const statuses = q.status?.length ? new Set<string>(q.status) : undefined;
  const candidates = new Set<string>();
  const take = (ids: Iterable<string>) => {
    for (const id of ids) if (q.after === undefined || id < q.after) candidates.add(id);
  };
  // Each status is looked for where it can be: `in progress` among the running attempts,
  // finished ones in the retention index, the rest among the jobs held.
  if (statuses === undefined || statuses.has('in progress')) take(sources.runningIds());
  if (statuses === undefined || [...statuses].some((s) => !FOUND_ELSEWHERE.has(s))) {
    take(sources.waitingIds());
  }
  for (const status of KEPT_STATUSES) {
    if (statuses === undefined || statuses.has(status)) take(sources.kept(status));
  }
  const ids = [...candidates].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const jobs: NodeJobView[] = [];
  let i = 0;
  // Records of other distributors, names or statuses are skipped; load in small parallel runs.
  while (i < ids.length && jobs.length <= q.limit) {
    const run = ids.slice(i, i + q.limit + 1);
    i += run.length;
    const records = await Promise.all(run.map((id) => current(id, sources)));
    for (const found of records) {
      if (found === undefined) continue;
      const [r, progress] = found;
      if (r.distributor !== distributorId) continue;
      if (statuses !== undefined && !statuses.has(r.status)) continue;
      if (q.name !== undefined && r.name !== q.name) continue;
      jobs.push(jobView(r, progress));
    }
  }
  if (jobs.length <= q.limit) return { jobs };
  const page = jobs.slice(0, q.limit);
  return { jobs: page, next: page.at(-1)!.id };
}

/** Job `id`'s freshest record: its running attempt's, its ready entry's, else the stored one. */
async function current(
  id: string,
  sources: QuerySources,
): Promise<[JobRecord, unknown] | undefined> {
  const running = sources.running(id);
  if (running !== undefined) return [running.record, running.progress];
  const record = sources.queued(id) ?? (await sources.load(id).catch(() => undefined));
  return record === undefined ? undefined : [record, undefined];
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
