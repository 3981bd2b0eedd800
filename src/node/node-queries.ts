import type { JobRecord } from '../model/job.ts';
import type { AnswerMessage, NodeCounts, NodeJobView, QueryMessage } from '../protocol/messages.ts';

/** Where a node looks for a job and its counts (see WorkerNode). */
export interface QuerySources {
  /** A running attempt's record and latest progress. */
  running(id: string): { record: JobRecord; progress?: unknown } | undefined;
  /** A due job waiting for a slot, when its record is at hand. */
  queued(id: string): JobRecord | undefined;
  /** The stored record (delayed, between runs, retrying, or kept after it ended). */
  load(id: string): Promise<JobRecord | undefined>;
  counts(): NodeCounts;
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
  if (m.id === undefined) return { t: 'answer', req: m.req, counts: sources.counts() };
  const running = sources.running(m.id);
  const record =
    running?.record ?? sources.queued(m.id) ?? (await sources.load(m.id).catch(() => undefined));
  if (record === undefined || record.distributor !== distributorId) {
    return { t: 'answer', req: m.req, job: null };
  }
  return { t: 'answer', req: m.req, job: jobView(record, running?.progress) };
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
