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
 * After `ready`:
 *   dist → job        a job to store and schedule (instant ones consume one credit)
 *   node → accepted   ids the node has stored (the node is now responsible for them)
 *   node → credit     n more instant jobs may be sent
 *   node → feedback   a success/error/cancel report; the distributor answers `fback`
 *   dist → fback      keys of feedbacks the distributor has processed
 *   dist → cancel     cancel a job the node holds; node answers `cancelled`
 *   node → status     the node (un)paused (e.g. its storage went away and came back)
 *                     and the names of the jobs it can run now
 *   node → drain      the node is stopping: send it nothing more
 *   node → runs       attempts that started / stopped without a feedback (memory nodes;
 *                     the distributor counts a crash only against jobs that were running)
 *   node → reconcile  ids of this distributor's jobs the node holds but no longer trusts
 *                     (its link went silent past its lease, or it reconnected)
 *   dist → owned      the subset still held by this node: it may run those; the rest went
 *                     elsewhere and the node drops them without running
 *   both → ping/pong  liveness when idle; a ping with an `id` (a measured round trip)
 *                     is answered by a pong with the same id
 *   both → error      fatal; the sender closes the connection after it
 */
export const PROTOCOL_VERSION = 1;

export interface HelloMessage {
  t: 'hello';
  v: number;
  node: string;
  instance: string;
  /** Instant jobs the node can run at once (its concurrency). */
  capacity: number;
  /** True when the node's storage survives a crash; the distributor then forgets accepted jobs. */
  durable: boolean;
  /** Names of the jobs the node can run. */
  jobs: string[];
  nonce: string;
}

export interface ChallengeMessage {
  t: 'challenge';
  v: number;
  /** The distributor's id (jobs carry it; feedbacks are routed by it). */
  distributor: string;
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

export interface JobMessage {
  t: 'job';
  job: JobSpec;
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

export interface FeedbackMessage {
  t: 'feedback';
  fb: Feedback;
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
  | JobMessage
  | AcceptedMessage
  | RejectedMessage
  | CreditMessage
  | FeedbackMessage
  | FeedbackAckMessage
  | CancelMessage
  | CancelledMessage
  | StatusMessage
  | RunsMessage
  | ReconcileMessage
  | OwnedMessage
  | DrainMessage
  | PingMessage
  | PongMessage
  | ErrorMessage;

export type MessageType = Message['t'];
