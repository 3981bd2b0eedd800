import type { ErrorInfo } from '../errors.ts';
import type { Feedback, JobSpec } from '../model/job.ts';

/**
 * Every message on a distributor↔node link. One TCP connection per pair carries both
 * directions; the node dials. A discriminated union on `t`.
 *
 * Handshake (nothing else is accepted before it finishes):
 *   node → hello       { v, node, instance, capacity, durable, jobs, nonce }
 *   dist → challenge   { v, distributor, nonce, proof }   proof = HMAC(secret, "dist", nonces…)
 *   node → auth        { proof }                            proof = HMAC(secret, "node", nonces…)
 *   dist → ready       {}
 * Without a shared secret the proofs are empty strings; a side that has a secret
 * rejects a peer whose proof is empty or wrong (AUTH_FAILED), then closes.
 *
 * After `ready` (docs/protocol.md has the byte layouts):
 *   dist → jobs       jobs to store and schedule, many per frame, each a fixed tuple
 *                     without the distributor id (the link knows it); instant ones
 *                     consume one credit each
 *   node → accepted   ids the node has stored (the node is now responsible for them)
 *   node → credit     n more instant jobs may be sent
 *   node → feedbacks  success/error/cancel reports, many per frame, each a fixed tuple
 *                     without node and distributor (the link knows both) and without the
 *                     key when it equals the job id; the distributor answers `fback`
 *   dist → fback      keys of feedbacks the distributor has processed
 *   dist → cancel     cancel a job the node holds; node answers `cancelled`
 *   node → status     the node (un)paused (e.g. its storage went away and came back)
 *                     and the names of the jobs it can run now
 *   node → drain      the node is stopping: send it nothing more
 *   node → runs       attempts that started / stopped without a feedback (memory nodes;
 *                     the distributor counts a crash only against jobs that were running;
 *                     starts are written to the socket before those jobs run)
 *   node → reconcile  ids of this distributor's jobs the node holds but no longer trusts
 *                     (its link went silent past its lease, or it reconnected)
 *   dist → owned      the subset still held by this node: it may run those; the rest went
 *                     elsewhere and the node drops them without running
 *   node → progress   the latest `ctx.progress()` value of running jobs (coalesced: one
 *                     per job per window, always before the job's feedback)
 *   dist → query      where a job is (`id`), how many jobs the node holds (nothing else),
 *                     a page of this distributor's jobs (`list`), or a retry of one of its
 *                     failed kept jobs (`retry`); the node answers `answer` with the same `req`
 *   dist → limits     job names whose starts the distributor caps (its `limits`): the node
 *                     starts one only with a permit
 *   node → permits    asks to start these jobs (`ids`, of names `names`)
 *   dist → granted    these may start now (at most `max` per `duration` per name, over
 *                     every node)
 *   both → ping/pong  liveness when idle; a ping with an `id` (a measured round trip)
 *                     is answered by a pong with the same id
 *   both → error      fatal; the sender closes the connection after it
 */
export const PROTOCOL_VERSION = 3;

export interface HelloMessage {
  t: 'hello';
  v: number;
  node: string;
  instance: string;
  /** Instant jobs the node can run at once (its concurrency). */
  capacity: number;
  /**
   * Instant jobs the distributor may have outstanding on this node: its run slots plus
   * the jobs it takes ahead (prefetch), so it never idles for a round trip. ≥ capacity.
   */
  window: number;
  /**
   * Bytes of instant jobs (as encoded) the distributor may have sent and not yet seen
   * start there; one job is always allowed, however large.
   */
  windowBytes: number;
  /** True when the node's storage survives a crash; the distributor then forgets accepted jobs. */
  durable: boolean;
  /** Names of the jobs the node can run. */
  jobs: string[];
  /**
   * Feedbacks the node keeps unacknowledged at most (its `maxPendingFeedbacks`): what it
   * may send again after a reconnect, so the distributor remembers that many of its keys
   * to drop repeats. Absent (an older node): DEFAULT_OUTBOX.
   */
  outbox?: number;
  /**
   * The largest frame body the node accepts (its `maxFrameSize`): the distributor sends it
   * no larger one. Absent (an older node): the distributor's own limit.
   */
  maxFrame?: number;
  nonce: string;
}

/** A node's `outbox` when its hello does not say (the node default of maxPendingFeedbacks). */
export const DEFAULT_OUTBOX = 10_000;

export interface ChallengeMessage {
  t: 'challenge';
  v: number;
  /** The distributor's id (jobs carry it; feedbacks are routed by it). */
  distributor: string;
  /** The largest frame body the distributor accepts (absent: the node's own limit). */
  maxFrame?: number;
  nonce: string;
  proof: string;
}

export interface AuthMessage {
  t: 'auth';
  proof: string;
}

export interface ReadyMessage {
  t: 'ready';
}

/**
 * Jobs for the node. On the wire `{ t: 'jobs', j: [tuple…] }`, each tuple
 * `[id, name, args, enqueuedAt, runAt, delivery, options?]` (see wire-forms.ts); decoded
 * into specs whose `distributor` is empty until the node fills it in from its link.
 */
export interface JobsMessage {
  t: 'jobs';
  jobs: JobSpec[];
}

export interface AcceptedMessage {
  t: 'accepted';
  ids: string[];
}

/** The node could not take these jobs (storage down, stopping); the distributor routes them elsewhere. */
export interface RejectedMessage {
  t: 'rejected';
  ids: string[];
  error: ErrorInfo;
}

export interface CreditMessage {
  t: 'credit';
  n: number;
}

/**
 * Feedbacks for the distributor. On the wire `{ t: 'feedbacks', f: [tuple…] }`, each tuple
 * `[jobId, code, attempt, args, extra?]` (see wire-forms.ts); decoded with `node` and
 * `distributor` empty until the distributor fills them in from its session.
 */
export interface FeedbacksMessage {
  t: 'feedbacks';
  fbs: Feedback[];
}

export interface FeedbackAckMessage {
  t: 'fback';
  keys: string[];
}

export interface CancelMessage {
  t: 'cancel';
  id: string;
  req: number;
}

export interface CancelledMessage {
  t: 'cancelled';
  req: number;
  /** Whether something was cancelled (false: unknown or already finished). */
  ok: boolean;
}

export interface StatusMessage {
  t: 'status';
  /** False while the node cannot store jobs: send it nothing until it says true again. */
  accepting: boolean;
  jobs: string[];
}

/**
 * Attempts a memory node started or ended without a feedback since its last `runs`: an
 * instant job counts as running from its dispatch, so only retries and deferred or
 * recurring runs are named here (nothing on the instant-job hot path).
 */
export interface RunsMessage {
  t: 'runs';
  started: string[];
  stopped: string[];
  /**
   * For each of `stopped`: the attempts made so far in the job's current cycle, so a job
   * re-dispatched while a retry waits carries on from there instead of starting over.
   */
  attempts?: number[];
}

/** The node asks which of these jobs are still its own (see `owned`). */
export interface ReconcileMessage {
  t: 'reconcile';
  ids: string[];
}

/** The answer to `reconcile`: the ids still held by this node; the others are not its own. */
export interface OwnedMessage {
  t: 'owned';
  ids: string[];
}

/** Names whose starts the distributor caps: a node asks a permit (`permits`) before each. */
export interface LimitsMessage {
  t: 'limits';
  names: string[];
}

/**
 * Start permits a node may have asked for and not yet been granted, per distributor. A node
 * with more jobs waiting asks for the next one as each ask is answered (granted, or the job
 * left); a peer that asks for more is closed with ProtocolError, so it cannot grow the
 * distributor's queues without bound.
 */
export const PERMIT_ASKS_IN_FLIGHT = 1000;

/** The node asks to start jobs `ids` (of names `names`, one per id). */
export interface PermitsMessage {
  t: 'permits';
  ids: string[];
  names: string[];
}

/** The distributor lets these jobs start. */
export interface GrantedMessage {
  t: 'granted';
  ids: string[];
}

/** The latest progress of running jobs: `values[i]` is job `ids[i]`'s. */
export interface ProgressMessage {
  t: 'progress';
  ids: string[];
  values: unknown[];
}

/**
 * A question for the node: job `id` (a lookup), a page of jobs (`list`), a retry of failed
 * job `retry`, or, with none of them, its counts.
 */
export interface QueryMessage {
  t: 'query';
  req: number;
  id?: string;
  list?: ListQuery;
  retry?: string;
}

/** A page of the asking distributor's jobs on a node, in id (= enqueue time) order. */
export interface ListQuery {
  /** Only jobs in one of these node statuses (`new`, `in progress`, `failed`, …). @default all */
  status?: string[];
  /** Only jobs of this name. */
  name?: string;
  /** Only jobs with an id after this one (the `next` of the previous page). */
  after?: string;
  /** Jobs at most on the page (≥ 1). */
  limit: number;
}

/** What a node holds of one job, as it answers a lookup. Times are epoch ms. */
export interface NodeJobView {
  id: string;
  name: string;
  /** The node's status of the job (`new`, `in progress`, `queued`, `error`, `complete`, …). */
  status: string;
  /** Attempts made in the current cycle. */
  attempt: number;
  delivery: number;
  /** When its next attempt or run is due (for a running job: this one's). */
  dueAt: number;
  enqueuedAt: number;
  runs: number;
  args: Record<string, unknown>;
  priority?: number;
  progress?: unknown;
  lastError?: unknown;
}

/** Jobs a node holds, by where they are. */
export interface NodeCounts {
  /** Attempts running now. */
  running: number;
  /** Due, waiting for a free run slot (or for the node to resume). */
  ready: number;
  /** Waiting on a timer: delayed, between the runs of a period or cron job, or a retry. */
  scheduled: number;
  /** Kept after they finished (see the node's `removeDoneJobs` / `keep`). */
  complete: number;
  failed: number;
}

/**
 * The answer to `query`: the job (null: not held here), the counts, a page of jobs (`jobs`,
 * with `next` when more follow), or a retry's outcome (`retried`: true, or `error` saying
 * why not).
 */
export interface AnswerMessage {
  t: 'answer';
  req: number;
  job?: NodeJobView | null;
  counts?: NodeCounts;
  jobs?: NodeJobView[];
  next?: string;
  retried?: boolean;
  error?: ErrorInfo;
}

export interface DrainMessage {
  t: 'drain';
}

export interface PingMessage {
  t: 'ping';
  /** Set by `distributor.ping()` to time a round trip; echoed in the pong. */
  id?: number;
}

export interface PongMessage {
  t: 'pong';
  /** The id of the ping this answers, if it had one. */
  id?: number;
}

export interface ErrorMessage {
  t: 'error';
  error: ErrorInfo;
}

export type Message =
  | HelloMessage
  | ChallengeMessage
  | AuthMessage
  | ReadyMessage
  | JobsMessage
  | AcceptedMessage
  | RejectedMessage
  | CreditMessage
  | FeedbacksMessage
  | FeedbackAckMessage
  | CancelMessage
  | CancelledMessage
  | StatusMessage
  | RunsMessage
  | ReconcileMessage
  | OwnedMessage
  | ProgressMessage
  | LimitsMessage
  | PermitsMessage
  | GrantedMessage
  | QueryMessage
  | AnswerMessage
  | DrainMessage
  | PingMessage
  | PongMessage
  | ErrorMessage;

export type MessageType = Message['t'];
