import {
  createAdminHandler,
  type AdminHandler,
  type AdminHandlerOptions,
} from '../admin/admin-handler.ts';
import { listenAdmin, type AdminServer } from '../admin/admin-server.ts';
import { DistributorMetrics } from '../metrics/distributor-metrics.ts';
import type { DistributorTracing, EnqueueTrace } from '../tracing/distributor-tracing.ts';
import { loadDistributorTracing } from '../tracing/load-tracing.ts';
import type { ResolvedTracing } from '../tracing/tracing-options.ts';
import {
  ClosedError,
  ConnectionError,
  ErrorCodes,
  FeedbackHandlerError,
  InvalidArgumentError,
  JobReactorError,
  ShutdownError,
  toErrorInfo,
  type ErrorInfo,
} from '../errors.ts';
import type { Clock } from '../model/clock.ts';
import { IdGenerator } from '../model/ids.ts';
import { feedbackKeyBase, type Feedback, type JobArgs, type JobSpec } from '../model/job.ts';
import { foldRepeats } from '../model/log-folding.ts';
import type { Logger } from '../model/logger.ts';
import { TypedEmitter } from '../model/typed-emitter.ts';
import type { Connection } from '../transport/connection.ts';
import { listenTcp } from '../transport/tcp-endpoints.ts';
import type { ServerTls } from '../transport/tls-options.ts';
import { assertManyItem, buildJobSpec, jobNameOf, type EnqueueOptions } from './enqueue-options.ts';
import type { DistributorEvents } from './events.ts';
import { CancelRequests } from './cancel-requests.ts';
import { RecentFeedbacks } from './recent-feedbacks.ts';
import { DEFAULT_OUTBOX } from '../protocol/messages.ts';
import { NodeSession, type NodeInfo, type SessionHost } from './node-session.ts';
import {
  TrackState,
  TrackedJob,
  callSafely,
  trackJob,
  type ErrorFeedback,
  type SuccessFeedback,
} from './tracked-job.ts';
import { Dispatcher } from './dispatcher.ts';
import { createHandle, type HandleOps, type JobHandle } from './job-handle.ts';
import {
  JobQueries,
  type JobCounts,
  type JobInfo,
  type JobListFilter,
  type JobPage,
} from './job-queries.ts';
import { StartPermits } from './start-permits.ts';
import { JobIndex } from './job-index.ts';
import { NodePings } from './node-pings.ts';
import { admitNode } from './node-admission.ts';
import {
  resolveDistributorOptions,
  type DistributorOptions,
  type JobName,
  type ResolvedDistributorOptions,
} from './distributor-options.ts';

export type { DistributorOptions, JobName } from './distributor-options.ts';

/**
 * The distributor lives in the application: it accepts node connections, sends them jobs
 * within their credit, keeps jobs until a node owns them, and runs the application's
 * feedbacks. States: created → listening → closing → closed.
 */
export class Distributor extends TypedEmitter<DistributorEvents> {
  readonly id: string;
  #state: 'created' | 'listening' | 'closing' | 'closed' = 'created';
  readonly #opts: ResolvedDistributorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ids = new IdGenerator();
  readonly #dispatch: Dispatcher;
  /**
   * Tracked jobs that must be found by id without their node session: caller-chosen ids
   * (a second enqueue gets the same handle), delayed and recurring jobs, and any job that
   * left a session unfinished (taken back from a lost node, or owned by a durable one). A
   * fresh instant job is found through the session that holds it, so a burst of them never
   * fills (and rehashes) a table of every waiting job.
   */
  readonly #jobs = new JobIndex();
  /** Jobs enqueued and not finished (every one, wherever it is). */
  #tracked = 0;
  readonly #seen = new RecentFeedbacks();
  readonly #cancels = new CancelRequests();
  #pings: NodePings | undefined;
  readonly #queries: JobQueries;
  readonly #permits: StartPermits;
  readonly #connections = new Set<Connection>();
  #server: { address: { host: string; port: number }; close(): Promise<void> } | undefined;
  readonly #tls: ServerTls | undefined;
  #admin: AdminServer | undefined;
  /** The admin handlers' latency series: told of each processed feedback with its job. */
  readonly #finishedFeed = new Set<(spec: JobSpec, fb: Feedback, now: number) => void>();
  /** Set by `listen()` with the `metrics` option; undefined costs the hot path one check. */
  #metrics: DistributorMetrics | undefined;
  readonly #tracingOptions: ResolvedTracing | undefined;
  /** Set by `listen()` with the `tracing` option; undefined costs the hot path one check. */
  #tracing: DistributorTracing | undefined;

  constructor(options: DistributorOptions = {}) {
    super();
    const o = resolveDistributorOptions(options);
    this.#opts = o;
    this.#clock = o.clock;
    this.#log = foldRepeats(o.logger, () => this.#clock.now());
    this.id = o.id;
    this.#tls = o.tls;
    this.#tracingOptions = o.tracing;
    this.#dispatch = new Dispatcher(o.maxWaiting, {
      clock: this.#clock,
      maxFrameSize: o.maxFrameSize,
      unknownJobs: o.unknownJobs,
      isOpen: () => this.#state === 'listening',
      fail: (job, error, node) => this.#finishWithError(job, error, node),
      dispatched: (job, node) => this.emit('job:dispatched', job.spec.id, node),
      tooLarge: (job, bytes, largest) =>
        this.#log.warn(
          { jobId: job.spec.id, job: job.spec.name, bytes, largestNodeFrame: largest },
          `job ${job.spec.id} (${job.spec.name}) waits: it is ${bytes} bytes encoded, and every node that could run it takes at most ${largest}`,
        ),
    });
    this.#permits = new StartPermits(o.limits, this.#clock);
    this.#queries = new JobQueries({
      clock: this.#clock,
      log: this.#log,
      find: (id) => this.#find(id),
      indexed: (id) => this.#jobs.get(id),
      sessions: () => this.#dispatch.sessions.filter((s) => !s.closed),
      sent: () => {
        let n = 0;
        for (const job of this.#dispatch.held()) if (job.state === TrackState.Sent) n++;
        return n;
      },
      waiting: () => this.#dispatch.waiting,
      call: this.#call,
      progressed: (id, name, value) => this.emit('job:progress', { id, name, value }),
    });
  }

  /** Where the distributor listens (after `listen()`). */
  get address(): { host: string; port: number } {
    if (!this.#server) throw new ClosedError('the distributor is not listening');
    return this.#server.address;
  }

  async listen(): Promise<this> {
    if (this.#state !== 'created') throw new ClosedError(`cannot listen in state ${this.#state}`);
    if (this.#tracingOptions !== undefined) {
      this.#tracing = await loadDistributorTracing(this.#tracingOptions, this.id);
    }
    if (this.#opts.metrics !== undefined) {
      this.#metrics = new DistributorMetrics(this.#opts.metrics, {
        waiting: () => this.#dispatch.waiting,
        tracked: () => this.#tracked,
        nodes: () => this.#dispatch.sessions.filter((s) => !s.closed).map((s) => s.info()),
      });
    }
    this.#server = await listenTcp(
      this.#opts.host,
      this.#opts.port,
      (conn) => void this.#onConnection(conn),
      this.#connOptions(),
      {
        ...(this.#opts.maxConnections !== undefined
          ? { maxConnections: this.#opts.maxConnections }
          : {}),
        onDrop: (remote, error) => {
          this.#log.warn({ remote, code: error.code }, `node rejected: ${error.message}`);
          this.emit('node:rejected', remote, error);
        },
        tls: this.#tls,
        tlsHandshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
      },
    );
    if (this.#opts.http !== undefined) {
      const { token } = this.#opts.http;
      try {
        this.#admin = await listenAdmin(
          this.httpHandler(token === undefined ? {} : { token }),
          this.#opts.http,
        );
      } catch (err) {
        await this.#server.close();
        throw err;
      }
      this.#log.info({ address: this.#admin.address }, 'admin API and dashboard listening');
    }
    this.#state = 'listening';
    this.#log.info({ address: this.#server.address, id: this.id }, 'distributor listening');
    return this;
  }

  /**
   * Sends a job to a node (or queues it until one can take it). Bad input throws
   * InvalidArgumentError here; a full waiting queue throws QueueFullError.
   */
  enqueue<A extends object = JobArgs>(
    job: JobName<A>,
    args?: A,
    options?: EnqueueOptions,
    onSuccess?: SuccessFeedback<A>,
    onError?: ErrorFeedback<A>,
  ): JobHandle<A> {
    this.#assertListening();
    const tracing = this.#tracing;
    if (tracing !== undefined) {
      return tracing.send(1, (t) =>
        this.#handleOf(this.#prepare(job, args, options, onSuccess, onError, t), options),
      ) as JobHandle<A>;
    }
    const prepared = this.#prepare(job, args, options, onSuccess, onError, undefined);
    return this.#handleOf(prepared, options) as JobHandle<A>;
  }

  /**
   * Enqueues many jobs in one call. Every job is checked first (name, args, options,
   * size): one bad job throws InvalidArgumentError and none is enqueued. QueueFullError,
   * also before any is enqueued, unless the waiting queue has room for all of them.
   * Handles come back in order; the callbacks apply to every job.
   */
  enqueueMany<A extends object = JobArgs>(
    jobs: readonly { job: JobName<A>; args?: A; options?: EnqueueOptions }[],
    onSuccess?: SuccessFeedback<A>,
    onError?: ErrorFeedback<A>,
  ): JobHandle<A>[] {
    this.#assertListening();
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('jobs must be an array');
    const tracing = this.#tracing;
    if (tracing !== undefined) {
      return tracing.send(jobs.length, (t) => this.#enqueueBatch(jobs, onSuccess, onError, t));
    }
    return this.#enqueueBatch(jobs, onSuccess, onError, undefined);
  }

  #enqueueBatch<A extends object = JobArgs>(
    jobs: readonly { job: JobName<A>; args?: A; options?: EnqueueOptions }[],
    onSuccess: SuccessFeedback<A> | undefined,
    onError: ErrorFeedback<A> | undefined,
    trace: EnqueueTrace | undefined,
  ): JobHandle<A>[] {
    // Each item is read once (its getters may throw, or answer differently a second time).
    const optionsOf: (EnqueueOptions | undefined)[] = [];
    const now = this.#clock.now(); // one enqueue time for the whole call
    const prepared = jobs.map((j) => {
      let job: JobName<A>, args: A | undefined, options: EnqueueOptions | undefined;
      try {
        assertManyItem(j);
        ({ job, args, options } = j);
      } catch (err) {
        throw unreadable(err, undefined);
      }
      optionsOf.push(options);
      return this.#prepare(job, args, options, onSuccess, onError, trace, now);
    });
    this.#dispatch.assertRoom(jobs.length);
    return prepared.map((p, i) => this.#handleOf(p, optionsOf[i]) as JobHandle<A>);
  }

  /** A prepared job's handle: a new job is sent or queued first (an already tracked one is not). */
  #handleOf(prepared: TrackedJob | JobHandle, options: EnqueueOptions | undefined): JobHandle {
    return prepared instanceof TrackedJob ? this.#admit(prepared, options) : prepared;
  }

  #assertListening(): void {
    if (this.#state !== 'listening')
      throw new ClosedError(`cannot enqueue: distributor is ${this.#state}`);
  }

  /** Checks and encodes one job (throws on bad input); an already tracked id gives its handle. */
  #prepare<A extends object = JobArgs>(
    job: JobName<A>,
    args: A | undefined,
    options: EnqueueOptions | undefined,
    onSuccess: SuccessFeedback<A> | undefined,
    onError: ErrorFeedback<A> | undefined,
    trace: EnqueueTrace | undefined,
    now: number = this.#clock.now(),
  ): TrackedJob | JobHandle {
    try {
      const name = jobNameOf(job);
      const { spec, routing } = buildJobSpec({
        name,
        args,
        options,
        id: this.#ids.next(now),
        distributor: this.id,
        now,
      });
      // Before the job is encoded: its trace context travels with it.
      trace?.message(spec);
      // A generated id is new by construction; only a caller-chosen one may be tracked already.
      const existing = options?.id === undefined ? undefined : this.#jobs.get(spec.id);
      if (existing) return createHandle(existing, this.#handleOps);
      return trackJob(
        spec,
        routing,
        onSuccess as SuccessFeedback | undefined,
        onError as ErrorFeedback | undefined,
        this.#opts.maxFrameSize,
      );
    } catch (err) {
      throw unreadable(err, job);
    }
  }

  /** Sends a prepared job to a node, or queues it. */
  #admit(tracked: TrackedJob, options: EnqueueOptions | undefined): JobHandle {
    const spec = tracked.spec;
    const signal = options?.signal;
    if (signal?.aborted) {
      // Like fetch(): an already-aborted signal never starts the work (nothing is sent).
      tracked.cancelWaiting();
      return createHandle(tracked, this.#handleOps);
    }
    if (options?.onProgress !== undefined) this.#queries.listen(tracked, options.onProgress);
    if (!this.#dispatch.admit(tracked)) this.emit('job:waiting', spec.id);
    this.#tracked++;
    this.#metrics?.enqueued(spec.name);
    if (spec.nonce !== undefined || !tracked.instant) this.#jobs.set(tracked);
    if (signal) {
      const onAbort = () => void this.#cancel(tracked);
      signal.addEventListener('abort', onAbort, { once: true });
      // Detach when the job ends, so a long-lived signal does not keep every job alive.
      const detach = () => signal.removeEventListener('abort', onAbort);
      tracked.result.onSettled(detach);
    }
    return createHandle(tracked, this.#handleOps);
  }

  /**
   * Where job `id` is and how it stands (state, node, attempt, delivery, due time,
   * progress, args): from this distributor while it waits here, else asked of the node
   * that holds it, memory or durable, over the wire. A job this distributor does not
   * track (a durable node's job after the application restarted, or a finished job a
   * node keeps) is looked for on every connected node. Resolves to null when no one knows
   * it; rejects with TimeoutError when a node does not answer within `timeout` ms
   * (default 5000).
   */
  getJob(id: string, options: { timeout?: number } = {}): Promise<JobInfo | null> {
    return this.#queries.getJob(id, options.timeout ?? 5000);
  }

  /**
   * How many jobs are where: waiting here, sent, and on each connected node running,
   * ready (due, waiting for a slot), scheduled (delayed, between runs, or a retry) and
   * kept complete or failed; per node and in total. Rejects with TimeoutError when a node
   * does not answer within `timeout` ms (default 5000).
   */
  counts(options: { timeout?: number } = {}): Promise<JobCounts> {
    return this.#queries.counts(options.timeout ?? 5000);
  }

  /**
   * A page of the jobs the connected nodes hold for this distributor (running, ready,
   * scheduled, retrying, kept finished), newest first, filtered by state, name and node;
   * pass the page's `next` as `cursor` for the following one. Jobs waiting here are not
   * listed (`counts()` has their number). Rejects with InvalidArgumentError for a bad
   * filter, TimeoutError when a node does not answer within `timeout` ms (default 5000).
   */
  listJobs(filter: JobListFilter = {}, options: { timeout?: number } = {}): Promise<JobPage> {
    return this.#queries.listJobs(filter, options.timeout ?? 5000);
  }

  /**
   * Runs failed job `id` again, now, on the node that keeps it (its attempts counted from
   * 0). The distributor does not track it again: its outcome comes as a `feedback` (and
   * `feedback:orphan`) event, and a memory node that crashes before it ends loses it.
   * Rejects with NotFoundError when no connected node keeps it, InvalidArgumentError when
   * it has not failed.
   */
  retryJob(id: string, options: { timeout?: number } = {}): Promise<JobInfo> {
    return this.#queries.retryJob(id, options.timeout ?? 5000);
  }

  /**
   * Cancels job `id` as its handle's `cancel()` does; resolves false when this distributor
   * does not track it (unknown, finished, or a durable node's job from before a restart).
   */
  async cancelJob(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidArgumentError('cancelJob needs a job id');
    }
    const job = this.#find(id);
    return job === undefined ? false : this.#cancel(job);
  }

  /**
   * The admin HTTP API and the dashboard as a node:http request handler, to mount in your
   * own server (node:http, Express `app.use('/jobs', h)`, Fastify's raw server). Without a
   * `token`, only loopback requests are answered. See docs/operating.md.
   */
  httpHandler(options: AdminHandlerOptions = {}): AdminHandler {
    return createAdminHandler(this, options, this.#opts.metrics, (listener) => {
      this.#finishedFeed.add(listener);
      return () => void this.#finishedFeed.delete(listener);
    });
  }

  /** Where the `http` option's admin server listens (after `listen()`); undefined without it. */
  get httpAddress(): { host: string; port: number } | undefined {
    return this.#admin?.address;
  }

  /** A tracked job by id: the index, the sessions' tables, then the waiting queues (a scan). */
  #find(id: string): TrackedJob | undefined {
    const indexed = this.#jobs.get(id);
    if (indexed !== undefined) return indexed;
    for (const session of this.#dispatch.sessions) {
      const held = session.held.get(id);
      if (held !== undefined) return held;
    }
    return this.#dispatch.findWaiting(id);
  }

  /** True between `pause()` and `resume()`. */
  get paused(): boolean {
    return this.#dispatch.paused;
  }

  /**
   * Sends no job to any node until `resume()`: `enqueue` goes on working, and its jobs
   * (and any coming back from a lost node) wait here, up to `maxWaiting`. Jobs already on
   * a node run and report as usual. Resolves once in effect: at once. No-op when paused.
   */
  async pause(): Promise<void> {
    if (this.#state !== 'listening')
      throw new ClosedError(`cannot pause: distributor is ${this.#state}`);
    if (!this.#dispatch.pause()) return;
    this.#log.info({ waiting: this.#dispatch.waiting }, 'distributor paused: sending no job');
    this.emit('paused');
    await Promise.resolve();
  }

  /** Undoes `pause()`: the waiting jobs go out (by priority, then in enqueue order). No-op when not paused. */
  async resume(): Promise<void> {
    if (this.#state !== 'listening')
      throw new ClosedError(`cannot resume: distributor is ${this.#state}`);
    if (!this.#dispatch.resume()) return;
    this.#log.info({ waiting: this.#dispatch.waiting }, 'distributor resumed');
    this.emit('resumed');
    await Promise.resolve();
  }

  /** The connected nodes. */
  nodes(): NodeInfo[] {
    return this.#dispatch.sessions.map((s) => s.info());
  }

  /**
   * Round trip to a connected node, ms: a `ping` its transport answers. It also measures
   * how long the node's event loop takes to get to its I/O (a node busy with synchronous
   * work answers late). Rejects with ConnectionError when no node has that name or it
   * leaves, TimeoutError after `timeout` ms (default 5000).
   */
  ping(nodeName: string, options: { timeout?: number } = {}): Promise<number> {
    const session = this.#dispatch.sessions.find((s) => s.name === nodeName && !s.closed);
    if (!session) {
      return Promise.reject(new ConnectionError(`no node named '${nodeName}' is connected`));
    }
    this.#pings ??= new NodePings(this.#clock);
    return this.#pings.ping(session, options.timeout ?? 5000);
  }

  /** Counts for dashboards and tests. */
  stats(): { tracked: number; waiting: number; nodes: number } {
    return {
      tracked: this.#tracked,
      waiting: this.#dispatch.waiting,
      nodes: this.#dispatch.sessions.length,
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
    await this.#admin?.close();
    for (const conn of this.#connections) conn.close();
    const err = new ShutdownError('distributor closed before the job finished');
    for (const job of [
      ...this.#jobs.values(),
      ...this.#dispatch.held(),
      ...this.#dispatch.clear(),
    ]) {
      if (!job.done) job.shutdown(err);
    }
    this.#jobs.clear();
    this.#tracked = 0;
    this.#cancels.clear();
    this.#permits.close();
    this.#state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- connections ---------------------------------------------------------------

  #connOptions() {
    return {
      maxFrameSize: this.#opts.maxFrameSize,
      heartbeatMs: this.#opts.heartbeatMs,
    };
  }

  async #onConnection(conn: Connection): Promise<void> {
    if (this.#state !== 'listening') return conn.close(new ShutdownError('distributor is closing'));
    this.#connections.add(conn);
    conn.onClose(() => this.#connections.delete(conn));
    const hello = await admitNode(conn, {
      secret: this.#opts.secret,
      distributorId: this.id,
      timeoutMs: this.#opts.handshakeTimeoutMs,
      maxFrameSize: this.#opts.maxFrameSize,
      sessions: this.#dispatch.sessions,
      rejected: (remote, error) => {
        this.#log.warn({ remote, code: error.code }, `node rejected: ${error.message}`);
        this.emit('node:rejected', remote, error);
      },
    });
    if (hello === undefined) return;
    const session = new NodeSession(conn, hello, this.#clock.now(), {
      host: this.#sessionHost,
      distributorId: this.id,
      maxFrameSize: this.#opts.maxFrameSize,
    });
    this.#dispatch.sessions.push(session);
    this.#seen.opened(session.name, hello.outbox ?? DEFAULT_OUTBOX);
    conn.onMessage((m) => session.handle(m));
    conn.onClose((reason) => this.#onSessionClosed(session, reason));
    this.#log.info({ node: session.name, remote: conn.remote }, 'node connected');
    this.emit('node:connected', session.info());
    // Before any job: the node must know which names start only with a permit.
    const limited = this.#permits.names;
    if (limited.length > 0) session.send({ t: 'limits', names: limited });
    this.#cancels.connected(session);
    this.#dispatch.scheduleDrain(true);
  }

  /** What each node session hands back (see NodeSession.handle). */
  readonly #sessionHost: SessionHost = {
    accepted: (session, ids) => {
      for (const id of ids) {
        // Only a job this session holds can be accepted by it.
        const job = session.held.get(id);
        if (this.#dispatch.accepted(session, job)) {
          // A durable node owns it now: its feedbacks come without the session holding it.
          if (session.durable) this.#jobs.set(job!);
          this.emit('job:accepted', id, session.name);
        }
      }
    },
    rejected: (session, ids) => {
      for (const job of this.#dispatch.rejected(session, ids)) {
        this.emit('job:requeued', job.spec.id, session.name);
      }
      this.#dispatch.scheduleDrain();
    },
    feedback: (session, fb) => this.#onFeedback(session, fb),
    cancelled: (req, ok) => this.#cancels.answered(req, ok),
    pong: (session, id) => this.#pings?.answered(session, id),
    progress: (session, ids, values) => this.#queries.progress(session, ids, values),
    answered: (session, answer) => this.#queries.answered(session, answer),
    permits: (session, ids, names) => {
      const refused = this.#permits.request(session, ids, names);
      if (refused === undefined) return;
      this.#log.warn({ node: session.name, code: refused.code }, refused.message);
      this.emit('protocol:error', session.connection.remote, refused);
      session.connection.close(refused);
    },
    room: (nodesChanged) => this.#dispatch.scheduleDrain(nodesChanged),
    status: (session) => this.emit('node:status', session.info()),
    protocolError: (session, err) => this.emit('protocol:error', session.connection.remote, err),
  };

  #onSessionClosed(session: NodeSession, reason: Error | undefined): void {
    this.#seen.closed(session.name);
    const { back, cancelled, quarantined } = this.#dispatch.nodeLeft(
      session,
      this.#opts.maxDeliveries,
      this.#call,
    );
    for (const job of cancelled) this.#forget(job);
    for (const job of quarantined) {
      this.#forget(job);
      const nodes = job.spec.crashedOn ?? [];
      this.#log.error(
        { jobId: job.spec.id, name: job.spec.name, nodes, code: ErrorCodes.PoisonJob },
        `job ${job.spec.name} quarantined: its node crashed or froze while running it ${nodes.length} times (${nodes.join(', ')})`,
      );
      this.emit('job:quarantined', job.spec.id, job.spec.name, nodes);
    }
    for (const job of back) {
      // Found by id from now on: the node it left may still report it (a frozen one wakes).
      this.#jobs.set(job);
      this.emit('job:requeued', job.spec.id, session.name);
    }
    this.#cancels.closed(session);
    this.#permits.closed(session);
    const info = session.info();
    // A clean close carries no error: say which kind it was, so the event always has a reason.
    const why =
      reason ??
      new ConnectionError(
        info.draining
          ? `node ${session.name} stopped (it said it was stopping)`
          : `node ${session.name} closed the connection (its process ended, or it stopped without draining)`,
      );
    this.#log.info(
      { node: session.name, requeued: back.length, reason: why.message },
      'node disconnected',
    );
    this.emit('node:disconnected', info, why, back.length);
    if (this.#state === 'listening') this.#dispatch.scheduleDrain(true);
  }

  // ---- feedbacks -----------------------------------------------------------------

  #onFeedback(session: NodeSession, fb: Feedback): void {
    // The sender's own small table first: the job is there unless a durable node owns it.
    const job = session.held.get(fb.jobId) ?? this.#jobs.get(fb.jobId);
    // The first final feedback of a job still tracked cannot be a repeat (a repeat finds the
    // job gone): only the others need the look-up among recent keys.
    if (job === undefined || !fb.final || job.done) {
      if (this.#seen.has(fb.key)) return;
    }
    // The job's own id when the key is it: a decoded key is a slice of its frame's text and
    // would keep all of that text alive for as long as it is remembered.
    this.#seen.add(
      session.name,
      job !== undefined && fb.key === job.spec.id ? job.spec.id : fb.key,
    );
    // A caller-chosen id reused after its job finished: the old job's feedbacks (a
    // durable node's outbox, a slow node) are not the new one's.
    if (
      !job ||
      (job.spec.nonce !== undefined && !isKeyOf(fb.key, job.spec)) ||
      !job.takes(fb, session)
    ) {
      this.emit('feedback:orphan', fb);
      return;
    }
    this.emit('feedback', fb);
    this.#metrics?.feedback(job.spec, fb, this.#clock.now());
    if (this.#finishedFeed.size > 0) {
      const now = this.#clock.now();
      for (const listener of this.#finishedFeed) listener(job.spec, fb, now);
    }
    if (fb.final) this.#forget(job);
    const unaccepted = !job.accepted.settled;
    const tracing = this.#tracing;
    if (tracing === undefined) this.#dispatch.feedback(job, fb, session, this.#call);
    else tracing.settle(job.spec, fb, () => this.#dispatch.feedback(job, fb, session, this.#call));
    // Its "accepted" never came (lost with a cut link): the feedback stands for it.
    if (unaccepted && job.accepted.settled) this.emit('job:accepted', job.spec.id, fb.node);
  }

  #finishWithError(job: TrackedJob, error: ErrorInfo, node: string): void {
    if (job.done) return;
    this.#forget(job);
    job.failUndelivered(error, node, this.#call);
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

  readonly #handleOps: HandleOps = {
    cancel: (job) => this.#cancel(job),
    onProgress: (job, listener) => this.#queries.listen(job, listener),
  };

  async #cancel(job: TrackedJob): Promise<boolean> {
    if (job.done) return false;
    if (job.state === TrackState.Waiting) {
      this.#dispatch.remove(job);
      this.#forget(job);
      job.cancelWaiting();
      return true;
    }
    job.requestCancel();
    let session = job.session;
    if (session?.closed) {
      // A durable node keeps its jobs across a restart: ask whoever has its name now,
      // or wait until it reconnects.
      const name = session.name;
      session = this.#dispatch.sessions.find((s) => s.name === name && !s.closed);
      if (!session) {
        return this.#cancels.park(name, job);
      }
    }
    if (!session) return false;
    return this.#cancels.send(session, job);
  }

  #anyInFlight(): boolean {
    for (const job of this.#dispatch.held()) if (job.state === TrackState.Sent) return true;
    return false;
  }

  /** A job ends (it is about to be settled): it is tracked no more. */
  #forget(job: TrackedJob): void {
    this.#tracked--;
    if (this.#jobs.get(job.spec.id) === job) this.#jobs.delete(job.spec.id);
  }

  protected override onListenerError(event: string, err: unknown): void {
    this.#log.error({ err, event }, 'distributor event listener threw');
  }
}

/** Whether feedback `key` is about this enqueue of the job (`id`, its nonce, then `@slot` or nothing). */
function isKeyOf(key: string, spec: JobSpec): boolean {
  const base = feedbackKeyBase(spec);
  return key.length === base.length ? key === base : key.startsWith(`${base}@`);
}

/** Creates a distributor and starts listening. */
export async function startDistributor(options: DistributorOptions = {}): Promise<Distributor> {
  return new Distributor(options).listen();
}

/**
 * What enqueue throws when reading the caller's job, args or options threw (a getter or a
 * Proxy trap of theirs): an InvalidArgumentError with that error as its cause, like any
 * other bad input. Errors of this library pass as they are.
 */
function unreadable(err: unknown, job: unknown): Error {
  if (err instanceof JobReactorError) return err;
  const what = typeof job === 'string' ? `job '${job}'` : 'a job';
  return new InvalidArgumentError(
    `cannot enqueue ${what}: reading its args or options threw: ${toErrorInfo(err).message}`,
    { cause: err },
  );
}
