import {
  ClosedError,
  DuplicateNodeError,
  FeedbackHandlerError,
  InvalidArgumentError,
  JobCancelledError,
  JobReactorError,
  QueueFullError,
  ShutdownError,
  UnknownJobError,
  type ErrorInfo,
} from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { IdGenerator, randomId } from '../model/ids.ts';
import type { Feedback, JobArgs } from '../model/job.ts';
import { silentLogger, type Logger } from '../model/logger.ts';
import { assertNodeName } from '../model/names.ts';
import { TypedEmitter } from '../model/typed-emitter.ts';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame } from '../protocol/codec.ts';
import type { Message } from '../protocol/messages.ts';
import type { Connection } from '../transport/connection.ts';
import { acceptHandshake } from '../transport/handshake.ts';
import { listenTcp } from '../transport/tcp-endpoints.ts';
import { buildJobSpec, isInstant, type EnqueueOptions } from './enqueue-options.ts';
import type { DistributorEvents } from './events.ts';
import { CancelRequests } from './cancel-requests.ts';
import { FeedbackAcks } from './feedback-acks.ts';
import { RecentKeys } from './recent-keys.ts';
import { NodeSelector } from './node-selector.ts';
import { NodeSession, type NodeInfo } from './node-session.ts';
import {
  TrackState,
  TrackedJob,
  callSafely,
  createHandle,
  deliverFeedback,
  failUndelivered,
  type ErrorFeedback,
  type JobHandle,
  type SuccessFeedback,
} from './tracked-job.ts';
import { WaitingQueue } from './waiting-queue.ts';

/** A job name, or the typed reference returned by `job()`. */
export type JobName<A extends JobArgs = JobArgs> =
  string | { readonly name: string; readonly __args?: A };

export interface DistributorOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one (see `address`). @default 0 */
  port?: number;
  /**
   * This distributor's identity. Jobs carry it and nodes route feedbacks by it, so a
   * restarted application that keeps its id gets the feedbacks of its earlier jobs.
   * @default a random id
   */
  id?: string;
  /** Shared secret; nodes must prove they know it (HMAC challenge-response), and so must we. */
  secret?: string;
  /** Listen on a non-loopback address without a secret. @default false */
  allowInsecure?: boolean;
  /** Jobs that may wait for an eligible node; past it `enqueue` throws QueueFullError. @default 100000 */
  maxWaiting?: number;
  /** What to do with a job no connected node can run: fail it with UnknownJobError, or wait for such a node. @default 'fail' */
  unknownJobs?: 'fail' | 'wait';
  /** Largest frame accepted or sent, bytes. @default 8 MiB */
  maxFrameSize?: number;
  /** Heartbeat interval; a silent peer is dropped after 3 of them. @default 1000 */
  heartbeatMs?: number;
  /** Deadline for a node's handshake, ms. @default 2000 */
  handshakeTimeoutMs?: number;
  clock?: Clock;
  /** pino-compatible logger. @default silent */
  logger?: Logger;
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

/**
 * The distributor lives in the application: it accepts node connections, sends them jobs
 * within their credit, keeps jobs until a node owns them, and runs the application's
 * feedbacks. States: created → listening → closing → closed.
 */
export class Distributor extends TypedEmitter<DistributorEvents> {
  readonly id: string;
  #state: 'created' | 'listening' | 'closing' | 'closed' = 'created';
  readonly #opts: DistributorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ids = new IdGenerator();
  readonly #selector = new NodeSelector();
  readonly #sessions: NodeSession[] = [];
  readonly #jobs = new Map<string, TrackedJob>();
  readonly #waiting: WaitingQueue;
  /**
   * Jobs no connected node may run at all (strict node absent, every node excluded):
   * looked at again only when a node connects or changes, never on credit.
   */
  readonly #stranded: WaitingQueue;
  readonly #seen = new RecentKeys(100_000);
  readonly #acks = new FeedbackAcks();
  readonly #cancels = new CancelRequests();
  readonly #connections = new Set<Connection>();
  #drainScheduled = false;
  #server: { address: { host: string; port: number }; close(): Promise<void> } | undefined;

  constructor(options: DistributorOptions = {}) {
    super();
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.id = options.id ?? randomId(8);
    assertNodeName(this.id, 'distributor id');
    this.#waiting = new WaitingQueue(options.maxWaiting ?? 100_000);
    this.#stranded = new WaitingQueue(Number.POSITIVE_INFINITY);
    const host = options.host ?? '127.0.0.1';
    if (!options.secret && !options.allowInsecure && !LOOPBACK.test(host)) {
      throw new InvalidArgumentError(
        `refusing to listen on ${host} without a secret: anyone who reaches the port could take jobs. Set secret, or allowInsecure: true`,
      );
    }
  }

  /** Where the distributor listens (after `listen()`). */
  get address(): { host: string; port: number } {
    if (!this.#server) throw new ClosedError('the distributor is not listening');
    return this.#server.address;
  }

  async listen(): Promise<this> {
    if (this.#state !== 'created') throw new ClosedError(`cannot listen in state ${this.#state}`);
    this.#server = await listenTcp(
      this.#opts.host ?? '127.0.0.1',
      this.#opts.port ?? 0,
      (conn) => void this.#onConnection(conn),
      this.#connOptions(),
    );
    this.#state = 'listening';
    this.#log.info({ address: this.#server.address, id: this.id }, 'distributor listening');
    return this;
  }

  /**
   * Sends a job to a node (or queues it until one can take it). Bad input throws
   * InvalidArgumentError here; a full waiting queue throws QueueFullError.
   */
  enqueue<A extends JobArgs>(
    job: JobName<A>,
    args?: A,
    options?: EnqueueOptions,
    onSuccess?: SuccessFeedback<A>,
    onError?: ErrorFeedback<A>,
  ): JobHandle<A> {
    this.#assertListening();
    const prepared = this.#prepare(job, args, options, onSuccess, onError);
    if (prepared instanceof TrackedJob) {
      return this.#admit(prepared, options?.signal) as JobHandle<A>;
    }
    return prepared as JobHandle<A>;
  }

  /**
   * Enqueues many jobs in one call. Every job is checked first (name, args, options,
   * size): one bad job throws InvalidArgumentError and none is enqueued. QueueFullError,
   * also before any is enqueued, unless the waiting queue has room for all of them.
   * Handles come back in order; the callbacks apply to every job.
   */
  enqueueMany<A extends JobArgs>(
    jobs: readonly { job: JobName<A>; args?: A; options?: EnqueueOptions }[],
    onSuccess?: SuccessFeedback<A>,
    onError?: ErrorFeedback<A>,
  ): JobHandle<A>[] {
    this.#assertListening();
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('jobs must be an array');
    const prepared = jobs.map((j) => this.#prepare(j.job, j.args, j.options, onSuccess, onError));
    if (this.#waiting.size + this.#stranded.size + jobs.length > this.#waiting.limit) {
      throw new QueueFullError(`waiting queue is full (${this.#waiting.limit} jobs)`);
    }
    return prepared.map((p, i) =>
      p instanceof TrackedJob
        ? (this.#admit(p, jobs[i]!.options?.signal) as JobHandle<A>)
        : (p as JobHandle<A>),
    );
  }

  #assertListening(): void {
    if (this.#state !== 'listening')
      throw new ClosedError(`cannot enqueue: distributor is ${this.#state}`);
  }

  /** Checks and encodes one job (throws on bad input); an already tracked id gives its handle. */
  #prepare<A extends JobArgs>(
    job: JobName<A>,
    args: A | undefined,
    options: EnqueueOptions | undefined,
    onSuccess: SuccessFeedback<A> | undefined,
    onError: ErrorFeedback<A> | undefined,
  ): TrackedJob | JobHandle {
    const name = typeof job === 'string' ? job : job?.name;
    const now = this.#clock.now();
    const { spec, routing } = buildJobSpec({
      name,
      args,
      options,
      id: this.#ids.next(now),
      distributor: this.id,
      now,
    });
    const existing = this.#jobs.get(spec.id);
    if (existing) return createHandle(existing, (j) => this.#cancel(j));
    if (onSuccess !== undefined && typeof onSuccess !== 'function') {
      throw new InvalidArgumentError('onSuccess must be a function');
    }
    if (onError !== undefined && typeof onError !== 'function') {
      throw new InvalidArgumentError('onError must be a function');
    }
    // Encoding now checks the args (plain data only) and the size in the caller's stack,
    // not later at dispatch; the frame is reused for the send.
    const frame = encodeFrame({ t: 'job', job: spec }, this.#maxFrameSize);
    const tracked = new TrackedJob(
      spec,
      routing,
      onSuccess as SuccessFeedback | undefined,
      onError as ErrorFeedback | undefined,
    );
    tracked.frame = frame;
    return tracked;
  }

  /** Sends a prepared job to a node, or queues it. */
  #admit(tracked: TrackedJob, signal: AbortSignal | undefined): JobHandle {
    const spec = tracked.spec;
    if (signal?.aborted) {
      // Like fetch(): an already-aborted signal never starts the work (nothing is sent).
      tracked.state = TrackState.Done;
      const error = new JobCancelledError(spec.id);
      tracked.accepted.reject(error);
      tracked.result.reject(error);
      return createHandle(tracked, (j) => this.#cancel(j));
    }
    const placed = this.#place(tracked);
    if (placed === 'kept' || placed === 'stranded') {
      if (this.#waiting.size + this.#stranded.size >= this.#waiting.limit) {
        throw new QueueFullError(`waiting queue is full (${this.#waiting.limit} jobs)`);
      }
      (placed === 'kept' ? this.#waiting : this.#stranded).push(tracked);
      this.emit('job:waiting', spec.id);
    }
    this.#jobs.set(spec.id, tracked);
    if (signal) {
      const onAbort = () => void this.#cancel(tracked);
      signal.addEventListener('abort', onAbort, { once: true });
      // Detach when the job ends, so a long-lived signal does not keep every job alive.
      const detach = () => signal.removeEventListener('abort', onAbort);
      tracked.result.onSettled(detach);
    }
    return createHandle(tracked, (j) => this.#cancel(j));
  }

  /** The connected nodes. */
  nodes(): NodeInfo[] {
    return this.#sessions.map((s) => s.info());
  }

  /** Counts for dashboards and tests. */
  stats(): { tracked: number; waiting: number; nodes: number } {
    return {
      tracked: this.#jobs.size,
      waiting: this.#waiting.size + this.#stranded.size,
      nodes: this.#sessions.length,
    };
  }

  /**
   * Stops taking jobs, waits (up to `timeout` ms) for jobs sent but not yet accepted,
   * then closes every connection. Jobs not finished reject their `result` with ShutdownError.
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return;
    const wasListening = this.#state === 'listening';
    this.#state = 'closing';
    const deadline = Date.now() + (options.timeout ?? 5000);
    while (wasListening && Date.now() < deadline && this.#anyInFlight()) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.#server?.close();
    for (const conn of this.#connections) conn.close();
    const err = new ShutdownError('distributor closed before the job finished');
    for (const job of this.#jobs.values()) {
      job.accepted.reject(err);
      job.result.reject(err);
    }
    this.#jobs.clear();
    this.#waiting.takeAll();
    this.#stranded.takeAll();
    this.#cancels.clear();
    this.#state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- connections ---------------------------------------------------------------

  get #maxFrameSize(): number {
    return this.#opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  #connOptions() {
    return {
      maxFrameSize: this.#maxFrameSize,
      heartbeatMs: this.#opts.heartbeatMs ?? 1000,
    };
  }

  async #onConnection(conn: Connection): Promise<void> {
    if (this.#state !== 'listening') return conn.close(new ShutdownError('distributor is closing'));
    this.#connections.add(conn);
    conn.onClose(() => this.#connections.delete(conn));
    let hello;
    try {
      hello = await acceptHandshake(conn, {
        ...(this.#opts.secret !== undefined ? { secret: this.#opts.secret } : {}),
        distributorId: this.id,
        timeoutMs: this.#opts.handshakeTimeoutMs ?? 2000,
      });
    } catch (err) {
      const error =
        err instanceof JobReactorError ? err : new ClosedError('handshake failed', { cause: err });
      this.#log.warn({ remote: conn.remote, code: error.code }, 'node rejected');
      this.emit('node:rejected', conn.remote, error);
      return;
    }
    if (conn.closed) return;
    if (this.#sessions.some((s) => s.name === hello.node && !s.closed)) {
      // Two live nodes under one name would share routing and storage keys. The newcomer
      // waits (it redials) until the old link is gone, e.g. found dead by its heartbeat.
      const error = new DuplicateNodeError(`a node named '${hello.node}' is already connected`);
      this.#log.warn({ node: hello.node, remote: conn.remote }, error.message);
      this.emit('node:rejected', conn.remote, error);
      return conn.close(error);
    }
    const session = new NodeSession(conn, hello, this.#clock.now());
    this.#sessions.push(session);
    conn.onMessage((m) => this.#onMessage(session, m));
    conn.onClose((reason) => this.#onSessionClosed(session, reason));
    this.#log.info({ node: session.name, remote: conn.remote }, 'node connected');
    this.emit('node:connected', session.info());
    this.#cancels.connected(session);
    this.#scheduleDrain(true);
  }

  #onMessage(session: NodeSession, m: Message): void {
    switch (m.t) {
      case 'credit':
        session.credit += m.n;
        this.#scheduleDrain();
        return;
      case 'accepted':
        for (const id of m.ids) this.#onAccepted(session, id);
        return;
      case 'rejected':
        for (const id of m.ids) this.#requeue(session, id);
        this.#scheduleDrain();
        return;
      case 'feedback':
        this.#onFeedback(session, m.fb);
        return;
      case 'cancelled':
        this.#cancels.answered(m.req, m.ok);
        return;
      case 'drain':
        session.draining = true;
        return;
      case 'status':
        session.paused = !m.accepting;
        session.jobNames = new Set(m.jobs);
        this.emit('node:status', session.info());
        this.#scheduleDrain(true);
        return;
      default: {
        const err = new InvalidArgumentError(`unexpected message '${m.t}' from a node`);
        this.emit('protocol:error', session.connection.remote, err);
        session.connection.close(err);
      }
    }
  }

  #onSessionClosed(session: NodeSession, reason: Error | undefined): void {
    session.closed = true;
    const i = this.#sessions.indexOf(session);
    if (i >= 0) this.#sessions.splice(i, 1);
    this.#acks.forget(session);
    // Everything the node held and did not own durably goes to other nodes, except jobs
    // the application asked to cancel: those end here.
    const back: TrackedJob[] = [];
    for (const job of session.held.values()) {
      if (job.state === TrackState.Done) continue;
      if (job.cancelRequested) {
        job.state = TrackState.Done;
        this.#jobs.delete(job.spec.id);
        job.result.reject(new JobCancelledError(job.spec.id));
        continue;
      }
      job.state = TrackState.Waiting;
      job.session = undefined;
      job.spec = { ...job.spec, delivery: job.spec.delivery + 1 };
      job.frame = undefined;
      back.push(job);
      this.emit('job:requeued', job.spec.id, session.name);
    }
    session.held.clear();
    this.#cancels.closed(session);
    this.#waiting.unshiftAll(back);
    this.#log.info(
      { node: session.name, requeued: back.length, reason: reason?.message },
      'node disconnected',
    );
    this.emit('node:disconnected', session.info(), reason, back.length);
    if (this.#state === 'listening') this.#scheduleDrain(true);
  }

  // ---- dispatch ------------------------------------------------------------------

  /** Sends the job to a node if one can take it now. */
  #place(job: TrackedJob): 'placed' | 'kept' | 'stranded' | 'failed' {
    const now = this.#clock.now();
    const instant = isInstant(job.spec, now);
    const picked = this.#selector.pick(this.#sessions, job.spec.name, job.routing, instant);
    if (picked === 'unknown-job' && (this.#opts.unknownJobs ?? 'fail') === 'fail') {
      const err = new UnknownJobError(`no connected node can run job '${job.spec.name}'`);
      // After the caller has its handle: feedbacks never run inside enqueue().
      queueMicrotask(() => this.#finishWithError(job, err.toInfo(), ''));
      return 'failed';
    }
    if (picked === 'no-credit') return 'kept';
    if (typeof picked === 'string') return 'stranded';
    try {
      if (job.frame) picked.sendFrame(job.frame);
      else picked.send({ t: 'job', job: job.spec });
      job.frame = undefined;
    } catch (err) {
      // Encoding failed (e.g. the job is larger than the frame limit): fail this job only.
      const info =
        err instanceof JobReactorError ? err.toInfo() : new ClosedError(String(err)).toInfo();
      queueMicrotask(() => this.#finishWithError(job, info, picked.name));
      return 'failed';
    }
    if (instant) picked.credit--;
    else picked.deferredHeld++;
    job.state = TrackState.Sent;
    job.session = picked;
    picked.held.set(job.spec.id, job);
    this.emit('job:dispatched', job.spec.id, picked.name);
    return 'placed';
  }

  /** `nodesChanged`: a node came, went or changed, so stranded jobs may have a node now. */
  #scheduleDrain(nodesChanged = false): void {
    if (nodesChanged && this.#stranded.size > 0) this.#waiting.unshiftAll(this.#stranded.takeAll());
    if (this.#drainScheduled || this.#waiting.size === 0) return;
    this.#drainScheduled = true;
    // Coalesce: many credits arriving in one read cost one pass over the queue.
    queueMicrotask(() => {
      this.#drainScheduled = false;
      if (this.#state !== 'listening') return;
      const stranded: TrackedJob[] = [];
      this.#waiting.drain((job) => {
        if (job.state === TrackState.Done) return 'placed';
        // Nothing can take an instant job: stop here instead of walking the whole queue
        // (100k waiting jobs and a credit at a time would make dispatch quadratic).
        if (job.instant && !this.#anyCredit()) return 'stop';
        const r = this.#place(job);
        if (r === 'failed') return 'placed';
        if (r === 'stranded') {
          stranded.push(job);
          return 'placed';
        }
        return r;
      });
      for (const job of stranded) this.#stranded.push(job);
    });
  }

  #onAccepted(session: NodeSession, id: string): void {
    const job = this.#jobs.get(id);
    if (!job || job.session !== session) return;
    job.state = TrackState.Accepted;
    job.accepted.resolve(session.name);
    if (session.durable) {
      // The node's storage survives a crash: it owns the job now.
      session.held.delete(id);
      if (!job.instant) session.deferredHeld--;
    }
    this.emit('job:accepted', id, session.name);
  }

  #requeue(session: NodeSession, id: string): void {
    const job = session.held.get(id);
    if (!job) return;
    session.held.delete(id);
    if (job.instant) session.credit++;
    else session.deferredHeld--;
    job.state = TrackState.Waiting;
    job.session = undefined;
    this.#waiting.unshiftAll([job]);
    this.emit('job:requeued', id, session.name);
  }

  // ---- feedbacks -----------------------------------------------------------------

  #onFeedback(session: NodeSession, fb: Feedback): void {
    this.#acks.add(session, fb.key);
    if (this.#seen.has(fb.key)) return;
    this.#seen.add(fb.key);
    const job = this.#jobs.get(fb.jobId);
    if (!job) {
      this.emit('feedback:orphan', fb);
      return;
    }
    this.emit('feedback', fb);
    if (fb.final) {
      this.#jobs.delete(fb.jobId);
      job.state = TrackState.Done;
      const holder = job.session;
      holder?.held.delete(fb.jobId);
      if (holder && !job.instant && !holder.durable) holder.deferredHeld--;
      // A re-dispatched copy is still held elsewhere: stop it, its work is done.
      if (holder && holder !== session && !holder.closed) {
        holder.send({ t: 'cancel', id: fb.jobId, req: 0 });
      }
      // If it was also waiting to move (its node dropped, then delivered after all), the
      // next drain drops it: a queue scan per feedback would cost O(waiting).
    }
    deliverFeedback(job, fb, this.#call);
  }

  #finishWithError(job: TrackedJob, error: ErrorInfo, node: string): void {
    if (job.state === TrackState.Done) return;
    job.state = TrackState.Done;
    this.#jobs.delete(job.spec.id);
    failUndelivered(job, error, node, this.#call);
  }

  /** Runs an application callback; a throw or rejection becomes an event, never a crash. */
  readonly #call = (jobId: string, fn: () => unknown): void =>
    callSafely(fn, (err) => {
      const error = new FeedbackHandlerError(`feedback callback of job ${jobId} threw`, {
        cause: err,
      });
      this.#log.error({ err, jobId }, error.message);
      this.emit('feedback:threw', error, jobId);
    });

  // ---- cancel --------------------------------------------------------------------

  async #cancel(job: TrackedJob): Promise<boolean> {
    if (job.state === TrackState.Done) return false;
    if (job.state === TrackState.Waiting) {
      if (!this.#waiting.remove(job)) this.#stranded.remove(job);
      job.state = TrackState.Done;
      this.#jobs.delete(job.spec.id);
      job.accepted.reject(new JobCancelledError(job.spec.id));
      job.result.reject(new JobCancelledError(job.spec.id));
      return true;
    }
    job.cancelRequested = true;
    let session = job.session;
    if (session?.closed) {
      // A durable node keeps its jobs across a restart: ask whoever has its name now,
      // or wait until it reconnects.
      const name = session.name;
      session = this.#sessions.find((s) => s.name === name && !s.closed);
      if (!session) {
        return this.#cancels.park(name, job);
      }
    }
    if (!session) return false;
    return this.#cancels.send(session, job);
  }

  #anyCredit(): boolean {
    for (const s of this.#sessions) if (s.usable && s.credit > 0) return true;
    return false;
  }

  #anyInFlight(): boolean {
    for (const job of this.#jobs.values()) if (job.state === TrackState.Sent) return true;
    return false;
  }

  protected override onListenerError(event: string, err: unknown): void {
    this.#log.error({ err, event }, 'distributor event listener threw');
  }
}

/** Creates a distributor and starts listening. */
export async function startDistributor(options: DistributorOptions = {}): Promise<Distributor> {
  return new Distributor(options).listen();
}
