import type { FeedbackHandlerError, JobReactorError } from '../errors.ts';
import type { Feedback } from '../model/job.ts';
import type { ProgressValue } from '../protocol/progress.ts';
import type { NodeInfo } from './node-session.ts';

/** Events of a Distributor (`distributor.on(name, listener)`). */
export type DistributorEvents = {
  /** A node finished its handshake. */
  'node:connected': [node: NodeInfo];
  /**
   * A node's connection ended; `requeued` jobs it held go to other nodes. `reason` is always
   * set: the transport's error, or a ConnectionError saying whether the node had announced
   * its stop.
   */
  'node:disconnected': [node: NodeInfo, reason: Error, requeued: number];
  /** A node paused or resumed taking jobs (e.g. its storage went away), or its job list changed. */
  'node:status': [node: NodeInfo];
  /** A peer failed the handshake (wrong secret, bad version, timeout) and was closed. */
  'node:rejected': [remote: string, error: JobReactorError];
  /** A connection was closed for breaking the protocol. */
  'protocol:error': [remote: string, error: JobReactorError];
  /** `pause()` took effect: no job leaves until `resume()`. */
  paused: [];
  resumed: [];
  'job:dispatched': [jobId: string, node: string];
  'job:accepted': [jobId: string, node: string];
  /** A job left a lost or stopping node and will be dispatched again. */
  'job:requeued': [jobId: string, fromNode: string];
  'job:waiting': [jobId: string];
  /** A running job reported progress (`ctx.progress(value)`): the latest value, coalesced. */
  'job:progress': [progress: { id: string; name: string; value: ProgressValue }];
  /**
   * A job ended because its node crashed or froze while running it `maxDeliveries` times
   * (a poison job): `nodes` are the nodes it took down. Its handle rejects with
   * JR_ERR_POISON_JOB.
   */
  'job:quarantined': [jobId: string, name: string, nodes: string[]];
  /** Every feedback processed (after deduplication). */
  feedback: [feedback: Feedback];
  /** A feedback for a job this distributor does not track (e.g. after a restart). */
  'feedback:orphan': [feedback: Feedback];
  /** An application feedback callback threw or rejected. The process goes on. */
  'feedback:threw': [error: FeedbackHandlerError, jobId: string];
};
