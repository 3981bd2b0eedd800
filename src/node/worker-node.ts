import {
  CancelJob,
  ClosedError,
  DuplicateNodeError,
  LeaseLostError,
  QueueFullError,
  ShutdownError,
  logExcerpt,
  type ErrorInfo,
} from '../errors.ts';
import type { Clock } from '../model/clock.ts';
import { ownedCopy, randomId } from '../model/ids.ts';
import { FINAL_STATUSES, JobStatus, type JobRecord, type JobSpec } from '../model/job.ts';
import { foldRepeats } from '../model/log-folding.ts';
import type { Logger } from '../model/logger.ts';
import { TypedEmitter } from '../model/typed-emitter.ts';
import { firstDue, isRecurring } from '../scheduling/schedule.ts';
import { jobSettingsProblem, type SettingsProblem } from '../scheduling/job-settings.ts';
import { TimerQueue } from '../scheduling/timer-queue.ts';
import type { JobStorage } from '../storage/job-storage.ts';
import { createStorage } from '../storage/create-storage.ts';
import type { DistributorLink, LinkHandlers } from './links/distributor-link.ts';
import { DeferPool } from './running/defer-pool.ts';
import { FeedbackOutbox } from './links/feedback-outbox.ts';
import {
  defaultRegistry,
  type JobDefinition,
  type JobRegistry,
  type ResolvedJobOptions,
} from './definitions/job-registry.ts';
import {
  invalidJobFeedback,
  markStarted,
  newRecord,
  sendableOutcome,
  settleOutcome,
  unknownJobFeedback,
} from './lifecycle/job-lifecycle.ts';
import { loadJobDirectoryFor } from './definitions/job-loader.ts';
import {
  Interrupter,
  runAttemptNow,
  type BlockWatch,
  type AttemptOutcome,
  type RunAttemptOptions,
} from './running/job-runner.ts';
import { IdleWaiter } from './idle-waiter.ts';
import { NodeOwnership, type OwnershipHost } from './ownership/node-ownership.ts';
import { LifecycleRulesCache } from './lifecycle/lifecycle-rules.ts';
import { createDistributorLinks } from './links/node-links.ts';
import { RunSlots } from './lifecycle/run-slots.ts';
import type { ReadyEntry } from './lifecycle/ready-queue.ts';
import type { ProgressSink } from './running/job-context.ts';
import { answerQuery, type QuerySources } from './node-queries.ts';
import { OwedCredits } from './links/owed-credits.ts';
import { LinkOwnership } from './ownership/link-ownership.ts';
import { resumeStoredJobs } from './lifecycle/resume-jobs.ts';
import { KeptJobs, type KeptStatus } from './lifecycle/kept-jobs.ts';
import { KeptRetry } from './lifecycle/kept-retry.ts';
import { attachNodeMetrics } from '../metrics/node-metrics.ts';
import { loadNodeTracing } from '../tracing/load-tracing.ts';
import type { NodeTracing } from '../tracing/node-tracing.ts';
import type { ResolvedTracing } from '../tracing/tracing-options.ts';
import { PermitWaits } from './lifecycle/permit-waits.ts';
import { RateLimiter } from '../scheduling/rate-limiter.ts';
import { StatusAnnouncer } from './links/status-announcer.ts';
import { StorageSync, asStorageError } from './lifecycle/storage-sync.ts';
import type { NodeEvents } from './node-events.ts';
import { resolveNodeOptions, type NodeOptions, type ResolvedNodeOptions } from './node-options.ts';

/** How long a job waits before trying again when the storage failed to load or mark it. */
const STORAGE_RETRY_MS = 1000;

/**
 * Instant jobs a link may have outstanding on this node, in units of its credit (the
 * node's window: concurrency + prefetch). Twice, not once: a job sent delayed that fell due on its way counts
 * as instant here though it took no credit there.
 */
const CREDIT_SLACK = 2;

/** How often a recurring job of a distributor held back (outbox over its cap) looks again. */
const HELD_RUN_RECHECK_MS = 1000;

/** Finished statuses whose jobs are kept under retention (see KeptJobs). */
function isKeptStatus(status: JobStatus): status is KeptStatus {
  return status === JobStatus.Complete || status === JobStatus.Failed;
}

/** Why a running attempt was aborted by the node itself (not a failure of the job). */
class Interrupted extends ShutdownError {}

/** Why jobs of one `jobs` frame are refused, each reason built at most once per frame. */
interface Refusals {
  stopping?: ErrorInfo;
  held?: ErrorInfo;
  beyondCredit?: ErrorInfo;
}

interface Running {
  /** Stops the attempt (cancel, shutdown); a plain object, not an AbortController (cost per job). */
  controller: Interrupter;
  byApp: boolean;
  distributor: string;
  /** The record this attempt runs with (lookups read it). */
  record: JobRecord;
  /** The attempt's latest `ctx.progress()` value. */
  progress?: unknown;
}

/**
 * A worker node: dials its distributors, stores the jobs they send, fires them from one
 * timer over a heap of due times, runs them with a concurrency limit, retries failures and
 * sends feedbacks (kept in an outbox until acknowledged).
 * States: created → starting → running → stopping → stopped.
 */
export class WorkerNode extends TypedEmitter<NodeEvents> {
  readonly name: string;
  readonly instance = randomId(8);
  #state: 'created' | 'starting' | 'running' | 'stopping' | 'stopped' = 'created';
  readonly #opts: ResolvedNodeOptions;
  readonly #clock: Clock;
  /** The library's own lines, repeats folded (see foldRepeats). */
  readonly #log: Logger;
  /** The application's logger as given: what a job's `ctx.log` writes to, never folded. */
  readonly #jobLog: Logger;
  readonly #storage: JobStorage;
  readonly #registry: JobRegistry;
  readonly #concurrency: number;
  /** Instant jobs each distributor may have outstanding here: run slots + prefetch. */
  readonly #window: number;
  readonly #rules: LifecycleRulesCache;
  readonly #mergeJobItself: boolean;
  readonly #links: DistributorLink[];
  readonly #timers: TimerQueue<string>;
  /** Jobs of names their distributor limits, waiting for its permit to start. */
  readonly #permits = new PermitWaits((r) =>
    this.#linkById.get(r.distributor)?.askPermit(r.id, r.name),
  );
  /** The finished jobs kept in storage, oldest first: their retention and counts. */
  readonly #kept: KeptJobs;
  /** Priorities of the jobs on a timer that have one (the ready queue orders by it). */
  readonly #timerPriority = new Map<string, number>();
  /** Due jobs, the run slots and who may start (see RunSlots). */
  readonly #slots: RunSlots;
  readonly #running = new Map<string, Running>();
  /** Attempts that ended and whose outcome is being written (their slots are free already). */
  #settling = 0;
  /** Jobs received and being written; a cancel that arrives meanwhile is noted here. */
  readonly #saving = new Map<string, { cancel: boolean }>();
  /** Instant jobs whose first attempt will give a credit back to their link. */
  readonly #creditOwed = new OwedCredits();
  readonly #outbox: FeedbackOutbox;
  readonly #blockWatch: BlockWatch | undefined;
  /** Whether the node takes jobs, and which: told to the distributors. */
  readonly #status: StatusAnnouncer;
  /** Failed storage operations: reported, and writes replayed when the storage returns. */
  readonly #storageSync: StorageSync;
  readonly #deferPool: DeferPool;
  #stopWatchingRegistry: (() => void) | undefined;
  readonly #idle = new IdleWaiter();
  /** Each distributor's link by its id (feedbacks, credits and run notes go there). */
  readonly #linkById = new Map<string, DistributorLink>();
  /** A memory node's hold on each distributor's jobs: only while its link is fresh. */
  readonly #ownership: LinkOwnership;
  /** Running jobs the distributor took back meanwhile: when they end, they are not kept. */
  readonly #disowned = new Set<string>();
  /** Owning durable jobs through the storage's lease (see node-ownership.ts). */
  readonly #lease: NodeOwnership;
  readonly #tracingOptions: ResolvedTracing | undefined;
  /** Set by `start()` with the `tracing` option; undefined costs each attempt one check. */
  #tracing: NodeTracing | undefined;

  constructor(options: NodeOptions) {
    super();
    const o = resolveNodeOptions(options);
    this.#opts = o;
    this.name = o.name;
    this.#tracingOptions = o.tracing;
    this.#clock = o.clock;
    this.#jobLog = o.logger;
    this.#log = foldRepeats(this.#jobLog, () => this.#clock.now());
    this.#storage = createStorage(o.storage, {
      ...(o.redisPrefix !== undefined ? { prefix: o.redisPrefix } : {}),
      ...(o.redisConnectTimeoutMs !== undefined
        ? { connectTimeoutMs: o.redisConnectTimeoutMs }
        : {}),
      ...(o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {}),
      ...(o.ownClock ? { clock: o.clock } : {}),
      ...(o.lmdbSync !== undefined ? { lmdbSync: o.lmdbSync } : {}),
    });
    this.#storageSync = new StorageSync(this.#log, (error) => this.emit('storage:error', error));
    const cap = o.maxPendingFeedbacks;
    this.#outbox = new FeedbackOutbox(
      this.#storage,
      (err, key) => this.#storageSync.failed(err, key),
      {
        cap,
        low: Math.floor(cap / 2),
        onPressure: (distributorId, over) => this.#outboxPressure(distributorId, over),
      },
      {
        maxAgeMs: o.feedbackMaxAgeMs,
        clock: this.#clock,
        onExpired: (distributorId, count) => {
          this.#log.warn(
            { distributor: distributorId, feedbacks: count, maxAgeMs: o.feedbackMaxAgeMs },
            'dropped the feedbacks of a distributor that stayed away longer than feedbackMaxAge',
          );
          this.emit('feedbacks:expired', distributorId, count);
        },
      },
    );
    this.#registry = o.registry ?? defaultRegistry;
    this.#lease = new NodeOwnership(this.#ownershipHost(), o.maxDeliveries);
    this.#concurrency = o.concurrency;
    this.#slots = new RunSlots(o.concurrency, {
      canStart: () => this.#state === 'running',
      run: (entry) => void this.#runOne(entry.id, entry.record, entry.marked, entry.permitted),
      idle: () => this.#idle.wake(), // a stop() may be waiting for this
      limiter: o.limiter === undefined ? undefined : new RateLimiter(o.limiter),
      clock: this.#clock,
    });
    this.#mergeJobItself = o.mergeJobItselfToArgs;
    this.#blockWatch =
      o.blockWarnMs === 0 ? undefined : { thresholdMs: o.blockWarnMs, blocked: this.#blocked };
    this.#rules = new LifecycleRulesCache(o.rules);
    this.#kept = new KeptJobs(o.keep, this.#clock, (ids) => this.#evictKept(ids));
    this.#deferPool = new DeferPool({
      jobDirectory: o.jobDirectory,
      threads: o.threads,
      log: this.#jobLog,
    });
    this.#timers = new TimerQueue<string>({
      clock: this.#clock,
      onDue: (id) => this.#slots.push(this.#dueEntry(id)),
      onError: (err) => this.#log.error({ err }, 'timer callback failed'),
    });
    this.#window = o.window;
    const hello = () => ({
      node: this.name,
      instance: this.instance,
      capacity: this.#concurrency,
      window: this.#window,
      windowBytes: o.prefetchBytes,
      durable: this.#storage.durable,
      jobs: this.#registry.names(),
      outbox: o.maxPendingFeedbacks,
      maxFrame: o.maxFrameSize,
    });
    this.#links = createDistributorLinks(o, hello, this.#log, {
      onReady: (link) => this.#onLinkReady(link),
      ...this.#fromDistributors,
      onDown: (link, reason) => {
        this.emit('distributor:disconnected', link.address, reason);
      },
      onRejected: (link, error) => {
        this.#log.error({ address: link.address, code: error.code }, error.message);
        this.emit('distributor:rejected', link.address, error);
      },
      onRoom: (link) => this.#outbox.room(link),
    });
    this.#ownership = new LinkOwnership(o.linkLeaseMs, {
      link: (id) => this.#linkById.get(id),
      heldIds: (id) => this.#heldIds(id),
      resume: (entry) => this.#slots.push(entry),
      drop: (id) => this.#drop(id),
      log: this.#log,
    });
    this.#status = new StatusAnnouncer(
      this.#links,
      this.#registry,
      () => this.#state === 'running',
    );
    if (o.paused) {
      this.#slots.pause();
      this.#status.paused = true;
    }
  }

  get state(): string {
    return this.#state;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#slots.active;
  }

  /** True between `pause()` and `resume()`. */
  get paused(): boolean {
    return this.#slots.paused;
  }

  /**
   * Starts nothing more until `resume()`: running jobs go on, timers keep their due times,
   * and jobs that fall due meanwhile wait in the ready queue (in due order, by priority).
   * The distributors are told to send this node nothing (they send to other nodes, or
   * keep the jobs). Resolves once in effect, at once (nothing starts after the call).
   * Also the CLI node's SIGTSTP. No-op when paused already.
   */
  async pause(): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      throw new ClosedError(`cannot pause a node that is ${this.#state}`);
    }
    if (!this.#slots.pause()) return;
    this.#status.paused = true;
    this.#status.broadcast();
    this.#log.info({ node: this.name }, 'node paused: starting no job until resume()');
    this.emit('node:paused');
    await Promise.resolve();
  }

  /**
   * Undoes `pause()`: the jobs that fell due meanwhile start, in due order (by priority),
   * and the distributors send jobs again. Also the CLI node's SIGUSR2. No-op when not paused.
   */
  async resume(): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      throw new ClosedError(`cannot resume a node that is ${this.#state}`);
    }
    if (!this.#slots.paused) return;
    this.#status.paused = false;
    this.#status.broadcast();
    this.#log.info({ node: this.name }, 'node resumed');
    this.emit('node:resumed');
    this.#slots.resume();
    await Promise.resolve();
  }

  /** Opens the storage, loads job files, resumes stored jobs, then dials the distributors. */
  async start(): Promise<this> {
    if (this.#state !== 'created')
      throw new ClosedError(`cannot start a node that is ${this.#state}`);
    this.#state = 'starting';
    if (this.#tracingOptions !== undefined) {
      this.#tracing = await loadNodeTracing(this.#tracingOptions, this.name);
    }
    if (this.#opts.metrics !== undefined) {
      // Fed by this node's events: nothing on its own paths changes.
      this.#detachMetrics = attachNodeMetrics(
        this.#opts.metrics,
        this,
        () => this.#clock.now(),
        () => ({
          running: this.#slots.active,
          ready: this.#slots.waiting,
          scheduled: this.#timers.size,
          outbox: this.#outbox.size,
          connections: this.#links.reduce((n, l) => n + (l.ready ? 1 : 0), 0),
          paused: this.#slots.paused,
        }),
      );
    }
    this.#storage.owner = this.#lease;
    try {
      await this.#storage.open(this.name);
    } catch (err) {
      if (err instanceof DuplicateNodeError) this.#log.error({ code: err.code }, err.message);
      throw err;
    }
    this.#storage.onStatusChange = (up) => this.#onStorageStatus(up);
    if (this.#opts.jobDirectory !== undefined) {
      await loadJobDirectoryFor(this.#opts.jobDirectory, this.#registry, this.#log);
    }
    if (this.#storage.durable && this.#opts.retryJobsAtStart) {
      const finished: JobRecord[] = [];
      await resumeStoredJobs(
        this.#storage,
        (r) => this.#lease.takeStored(r),
        this.#log,
        this.name,
        (r) => finished.push(r),
      );
      this.#indexKept(finished);
    }
    await this.#outbox.restore();
    this.#outbox.start();
    this.#state = 'running';
    this.#stopWatchingRegistry = this.#registry.onDefine(() => this.#status.jobsChanged());
    this.#slots.pump(); // jobs resumed from storage that are already due
    for (const link of this.#links) link.start();
    return this;
  }

  /**
   * Graceful stop: tell distributors to send nothing more, let running jobs finish (up to
   * `timeout` ms, then abort them), deliver pending feedbacks, close links and storage.
   * Jobs not started stay in a durable storage, or go back to the distributor (memory).
   */
  async stop(options: { timeout?: number } = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    const deadline = Date.now() + (options.timeout ?? 10_000);
    this.#state = 'stopping';
    this.#stopWatchingRegistry?.();
    for (const link of this.#links) link.send({ t: 'drain' });
    this.#timers.close();
    this.#kept.close();
    this.#permits.clear();
    this.#slots.clear();
    this.#ownership.clear();
    await this.#idle.until(() => this.#slots.active === 0 && this.#settling === 0, deadline);
    if (this.#slots.active > 0) {
      for (const r of this.#running.values()) r.controller.abort(new Interrupted('node stopping'));
      await this.#idle.until(
        () => this.#slots.active === 0 && this.#settling === 0,
        Date.now() + 1000,
      );
    }
    await this.#deferPool.close();
    await this.#idle.until(() => !this.#outbox.deliverable, deadline);
    this.#outbox.close();
    for (const link of this.#links) link.stop();
    await this.#storage.close();
    this.#detachMetrics?.();
    this.#state = 'stopped';
    this.emit('stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- links -----------------------------------------------------------------------

  #onLinkReady(link: DistributorLink): void {
    if (link.distributorId !== undefined) this.#linkById.set(link.distributorId, link);
    if (!this.#storage.durable) {
      // Logged, never thrown: an unhandled rejection here would end the node's process.
      this.#ownership.linkReady(link).catch((err: unknown) => {
        this.#log.error(
          { err, address: link.address },
          'could not reconcile jobs with the distributor',
        );
      });
    }
    const held = this.#outbox.over(link.distributorId);
    if (held) link.holdCredits();
    this.#status.linkReady(link, held);
    // Jobs that waited for this distributor's permit while its link was down ask again.
    if (this.#permits.size > 0 && link.distributorId !== undefined) {
      this.#permits.relinked(link.distributorId);
    }
    this.emit('distributor:connected', link.address, link.distributorId ?? '');
    this.#outbox.linkReady(link);
  }

  /** What the distributors send, from their links (see DistributorLink's message switch). */
  readonly #fromDistributors: Omit<LinkHandlers, 'onReady' | 'onDown' | 'onRejected' | 'onRoom'> = {
    jobs: (link, specs) => {
      const refusals: Refusals = {};
      for (const spec of specs) this.#receive(link, spec, refusals);
    },
    acked: (link, keys) => this.#outbox.acked(keys, link.distributorId),
    owned: (link, ids) => this.#ownership.answered(link, ids),
    cancel: (link, id, req) =>
      void this.#cancel(id).then((ok) => link.send({ t: 'cancelled', req, ok })),
    limits: (link, names) => {
      if (link.distributorId !== undefined) this.#permits.limits(link.distributorId, names);
    },
    granted: (_link, ids) => {
      for (const id of ids) {
        const record = this.#permits.granted(id);
        // First in line: its start was counted when granted.
        if (record !== undefined) this.#slots.push({ id, record, permitted: true, priority: -1 });
      }
    },
    query: (link, m) =>
      void answerQuery(m, link.distributorId ?? '', this.#querySources).then((answer) => {
        if (link.ready) link.send(answer);
      }),
  };

  /**
   * A distributor has `maxPendingFeedbacks` feedbacks unacknowledged (`over`), or is back
   * under half of that. Over: it alone is told `accepting: false`, gets no credit back and
   * has its new jobs rejected, so a peer that never acknowledges cannot grow the outbox
   * without bound. Nothing is dropped: its feedbacks stay and are resent on reconnect.
   */
  #outboxPressure(distributorId: string, over: boolean): void {
    for (const link of this.#links) {
      if (link.distributorId !== distributorId) continue;
      if (over) link.holdCredits();
      this.#status.hold(link, over);
      if (!over) link.releaseCredits();
    }
    const pending = this.#outbox.pendingFor(distributorId);
    if (over) {
      this.#log.warn(
        { distributor: distributorId, pending },
        'distributor leaves too many feedbacks unacknowledged: taking no more of its jobs',
      );
    } else {
      this.#log.info(
        { distributor: distributorId, pending },
        'unacknowledged feedbacks back under the limit (acknowledged or expired): taking jobs again',
      );
    }
    this.emit('distributor:backpressure', distributorId, over, pending);
  }

  /** Storage went away or came back: pause or resume taking jobs, replay failed writes. */
  #onStorageStatus(up: boolean): void {
    if (this.#state !== 'running' || up === this.#status.accepting || this.#lease.isLost) return;
    this.#status.accepting = up;
    // Down is a warning; back is news an operator waits for, at info.
    if (up) this.#log.info({ storageUp: up }, 'storage is back: taking jobs again');
    else this.#log.warn({ storageUp: up }, 'storage is down: not taking jobs');
    this.emit('storage:status', up);
    this.#status.broadcast();
    if (up) this.#storageSync.replay();
  }

  // ---- receiving -------------------------------------------------------------------

  /**
   * One job from a distributor. `refusals`: the reasons built so far for this frame's
   * jobs, so a burst refused for one reason shares one error (an Error per job made a
   * burst sent to a held-back node cost seconds of blocked loop).
   */
  #receive(link: DistributorLink, spec: JobSpec, refusals: Refusals, looked = false): void {
    const now = this.#clock.now();
    if (this.#state !== 'running') {
      refusals.stopping ??= new ShutdownError('node is stopping').toInfo();
      return link.reject(spec.id, refusals.stopping);
    }
    if (this.#status.isHeld(link) && !this.#holds(spec.id)) {
      // Sent before our `accepting: false` arrived, or by a peer that ignores it. Checked
      // first: even a refusal would add a feedback.
      refusals.held ??= new QueueFullError(
        `node ${this.name} holds ${this.#outbox.pendingFor(link.distributorId ?? '')} unacknowledged feedbacks for this distributor: acknowledge them first`,
      ).toInfo();
      return link.reject(spec.id, refusals.held);
    }
    // Nothing from the wire is trusted: the same rules as enqueue (a peer of another version,
    // or a hostile one, could send a period of 1e-300 ms or 10^15 attempts). Its
    // `distributor` is the link's own (it is not on the wire), so a peer cannot send
    // feedbacks to another distributor, or to one that never acknowledges.
    const problem = jobSettingsProblem(spec);
    if (problem !== undefined) return this.#refuseInvalid(link, spec, problem, now);
    const instant = !isRecurring(spec) && spec.runAt <= now;
    if (this.#holds(spec.id)) {
      // A second delivery of a job we already hold (the distributor re-sent it after a
      // reconnect). Its credit is owed to this link now, or at once if its first attempt
      // already gave one back.
      if (instant) {
        if (this.#creditOwed.has(spec.id)) this.#creditOwed.owe(spec.id, link);
        else link.giveCredit();
      }
      link.accepted(spec.id);
      return;
    }
    if (instant && this.#creditOwed.owedTo(link) >= CREDIT_SLACK * this.#window) {
      // Far more instant jobs than the credit granted: a peer that ignores its credit. They
      // would pile up here faster than their feedbacks could hold it back (see the outbox).
      refusals.beyondCredit ??= new QueueFullError(
        `node ${this.name} granted ${this.#window} credits and holds ${this.#creditOwed.owedTo(link)} instant jobs of this distributor: it sends beyond its credit`,
      ).toInfo();
      return link.reject(spec.id, refusals.beyondCredit);
    }
    if (!looked && spec.delivery > 1 && this.#storage.durable)
      return this.#receiveAgain(link, spec, instant);
    // Its id may be a kept finished job's (a caller-chosen id, enqueued again): the new
    // job replaces that record, and retention must not remove it later.
    if (!this.#kept.empty) this.#kept.delete(spec.id);
    // A waiting job's id is a key of the storage and timer maps for as long as it waits.
    const id = instant ? spec.id : ownedCopy(spec.id);
    const record = newRecord(spec, id, this.name, this.#firstDue(spec, now), now);
    if (this.#storage.durable) this.#lease.known.add(record);
    if (instant) this.#creditOwed.owe(spec.id, link);
    if (instant && !this.#storage.durable) {
      // A memory storage is read back only for jobs that wait (timer, retry); an instant job
      // goes straight to the ready queue with its record, and is stored only if it must wait
      // again or be kept once finished. Nothing is lost: the distributor keeps a memory
      // node's jobs until their final feedback.
      link.accepted(spec.id);
      if (!this.#registry.has(spec.name)) return void this.#finishUnknown(record);
      this.#schedule(record);
      return;
    }
    // An instant job that has a free slot is stored already marked "in progress", its slot
    // held meanwhile: one write per job instead of two (stored, then marked at start).
    const startsNow =
      instant &&
      this.#registry.has(spec.name) &&
      !this.#permits.needs(spec) && // it waits for a permit first
      this.#slots.reserve(spec);
    if (startsNow) markStarted(record, now);
    const saving = { cancel: false };
    this.#saving.set(spec.id, saving);
    this.#storage.save(record).then(
      () => {
        this.#saving.delete(spec.id);
        link.accepted(spec.id);
        if (startsNow) {
          if (saving.cancel || this.#state !== 'running') this.#slots.release();
          else return void this.#runOne(id, record, true);
        }
        if (saving.cancel) return void this.#finishCancelled(record, true);
        if (!this.#registry.has(spec.name)) return void this.#finishUnknown(record);
        // (A reserved job whose node is stopping stays stored as "in progress": a restart
        // runs it.)
        if (!startsNow) this.#schedule(record);
      },
      (err: unknown) => {
        if (startsNow) this.#slots.release();
        this.#saving.delete(spec.id);
        this.#lease.known.delete(spec.id);
        this.#creditOwed.take(spec.id);
        const error = asStorageError(err, 'could not store the job');
        this.emit('storage:error', error);
        link.reject(spec.id, error.toInfo());
      },
    );
  }

  /**
   * A job whose settings break the rules is neither stored nor run: accepted (so the
   * distributor's handle moves on), its credit given back, and answered with a final
   * InvalidArgumentError feedback naming the field.
   */
  #refuseInvalid(
    link: DistributorLink,
    spec: JobSpec,
    problem: SettingsProblem,
    now: number,
  ): void {
    this.#log.warn(
      { jobId: spec.id, name: spec.name, field: problem.field, address: link.address },
      `refused a job: ${problem.message}`,
    );
    link.accepted(spec.id);
    if (!isRecurring(spec) && spec.runAt <= now) link.giveCredit();
    const fb = invalidJobFeedback(spec, problem.message);
    // To the sender, whatever the job claims.
    const distributor = link.distributorId ?? spec.distributor;
    void this.#outbox.push({ ...fb, node: this.name, distributor });
  }

  /**
   * A re-sent job (delivery > 1) may be stored here already: this node took it but died
   * before its "accepted" left, or adopted it. The stored record stays (with its crash
   * count, so a poison job cannot reset it by being re-sent); otherwise it is a new job.
   */
  #receiveAgain(link: DistributorLink, spec: JobSpec, instant: boolean): void {
    this.#storage.load(spec.id).then(
      (stored) => {
        if (stored === undefined) return this.#receive(link, spec, {}, true);
        link.accepted(spec.id);
        // Its credit: the stored copy owes none, so it goes back at once.
        if (instant) link.giveCredit();
        if (!FINAL_STATUSES.has(stored.status) && !this.#holds(spec.id))
          this.#lease.takeStored(stored);
      },
      () => this.#receive(link, spec, {}, true),
    );
  }

  #firstDue(spec: JobSpec, now: number): number {
    // A new periodic job's first slot is its runAt even if it arrives a little late; a
    // re-dispatched one (delivery > 1) keeps its grid and skips slots already past.
    const graceMs = spec.delivery === 1 ? (spec.period ?? 0) : 0;
    return firstDue(spec, now, { graceMs }) ?? now;
  }

  #holds(id: string): boolean {
    return (
      this.#saving.has(id) ||
      this.#running.has(id) ||
      this.#timers.has(id) ||
      this.#slots.has(id) ||
      this.#ownership.has(id) ||
      this.#permits.has(id) ||
      this.#lease.parks(id)
    );
  }

  /** Every job of distributor `id` this (memory) node holds: for a reconnect's reconcile. */
  async #heldIds(id: string): Promise<string[]> {
    const ids = new Set<string>();
    for (const r of await this.#storage.list()) if (r.distributor === id) ids.add(r.id);
    for (const e of this.#slots.values()) if (e.record?.distributor === id) ids.add(e.id);
    for (const r of this.#permits.of(id)) ids.add(r.id);
    for (const [jid, r] of this.#running) if (r.distributor === id) ids.add(jid);
    return [...ids];
  }

  /** The distributor sent job `id` elsewhere: it leaves this node without running here. */
  #drop(id: string): void {
    this.#slots.remove(id);
    this.#permits.take(id);
    this.#unschedule(id);
    this.#giveCredit(id);
    if (this.#running.has(id)) this.#disowned.add(id);
    else void this.#storage.remove(id).catch((err: unknown) => this.#storageSync.failed(err, id));
  }

  #schedule(record: JobRecord): void {
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    if (record.dueAt <= this.#clock.now()) {
      this.#slots.push({ id: record.id, record });
    } else {
      this.#timers.add(record.id, record.dueAt);
      if (record.priority !== undefined) this.#timerPriority.set(record.id, record.priority);
    }
  }

  /** A timer fired for job `id`: its ready entry, with its priority (the record is loaded at start). */
  #dueEntry(id: string): ReadyEntry {
    const priority = this.#timerPriority.get(id);
    if (priority === undefined) return { id };
    this.#timerPriority.delete(id);
    return { id, priority };
  }

  /** Job `id` leaves the timers; returns whether it was there. */
  #unschedule(id: string): boolean {
    this.#timerPriority.delete(id);
    return this.#timers.remove(id);
  }

  // ---- running ---------------------------------------------------------------------

  /** What a distributor's lookups and counts read (see answerQuery). */
  readonly #querySources: QuerySources = {
    running: (id) => this.#running.get(id),
    queued: (id) => this.#slots.get(id)?.record,
    load: (id) => this.#storage.load(id),
    counts: () => ({
      running: this.#slots.active,
      ready: this.#slots.waiting,
      scheduled: this.#timers.size,
      complete: this.#kept.count('complete'),
      failed: this.#kept.count('failed'),
    }),
    runningIds: () => this.#running.keys(),
    waitingIds: () => this.#waitingIds(),
    kept: (status) => this.#kept.ids(status),
    retry: (id, distributorId) =>
      (this.#keptRetry ??= this.#newKeptRetry()).retry(id, distributorId),
  };

  /** Ids of every job held here, not finished and not running, wherever it waits (some may repeat). */
  *#waitingIds(): IterableIterator<string> {
    yield* this.#saving.keys();
    yield* this.#timers.keys();
    for (const entry of this.#slots.values()) yield entry.id;
    yield* this.#ownership.ids();
    yield* this.#permits.ids();
    yield* this.#lease.parkedIds();
  }

  /** Takes this node's gauges out of the metrics registry (set at start with `metrics`). */
  #detachMetrics: (() => void) | undefined;

  /** Made at the first retry (field initializers run before the constructor sets its parts). */
  #keptRetry: KeptRetry | undefined;

  #newKeptRetry(): KeptRetry {
    return new KeptRetry({
      name: this.name,
      clock: this.#clock,
      storage: this.#storage,
      running: () => this.#state === 'running',
      busy: (id) => this.#running.has(id) || this.#slots.get(id) !== undefined,
      unkeep: (id) => this.#kept.delete(id),
      schedule: (record) => this.#schedule(record),
    });
  }

  /** A running job reported progress (checked by its context): to its distributor, coalesced. */
  readonly #onProgress: ProgressSink = (id, value) => {
    const running = this.#running.get(id);
    if (running === undefined) return; // it ended meanwhile (a step still going in the background)
    running.progress = value;
    this.#linkById.get(running.distributor)?.progress(id, value);
    this.emit('job:progress', running.record, value);
  };

  readonly #blocked = (record: JobRecord, ms: number): void => {
    const rounded = Math.round(ms);
    this.#log.warn(
      { jobId: record.id, name: record.name, ms: rounded },
      `job ${record.name} (${record.id}) held the event loop for ${rounded} ms in one step: ` +
        'no heartbeat or timer ran meanwhile; run CPU-bound work with defer: true',
    );
    this.emit('job:blocked', record, ms);
  };

  /**
   * Runs job `id` in the slot it was given (by the slots' `run` hook, or `reserve`), and
   * gives the slot back when it is done (RunSlots.ended), whatever happened. `marked`: the
   * record was stored already marked as started (see #receive); `permitted`: its
   * distributor granted the start of this job of a limited name.
   */
  async #runOne(
    id: string,
    given: JobRecord | undefined,
    marked = false,
    permitted = false,
  ): Promise<void> {
    try {
      let record: JobRecord | undefined;
      try {
        record = given ?? (await this.#storage.load(id));
      } catch (err) {
        this.#storageSync.failed(err, id);
        this.#retryLater(id);
        return;
      }
      // Removed or finished meanwhile (cancelled, or deleted with the monitor): nothing to run.
      if (!record || FINAL_STATUSES.has(record.status)) return;
      const def = this.#registry.get(record.name);
      if (!def) return this.#finishUnknown(record);
      if (this.#outbox.over(record.distributor) && isRecurring(record)) {
        // Each run would add a feedback its distributor does not acknowledge: the run waits
        // (checked again every second) until it does. Runs missed meanwhile are skipped.
        if (this.#state === 'running')
          this.#timers.add(id, this.#clock.now() + HELD_RUN_RECHECK_MS);
        return;
      }
      if (!this.#leaseAllows(id, record, marked)) return;
      const slot = record.dueAt;
      const durable = this.#storage.durable;
      // A memory node starts nothing of a distributor whose link is not fresh (see LinkOwnership).
      if (!durable && !this.#ownership.mayStart(record)) return;
      // A crash suspect runs alone (see RunSlots): later, when the node is empty.
      if (!this.#slots.admit(id, record)) return;
      if (!permitted && this.#permits.needs(record)) {
        // A name its distributor limits: ask, and wait without holding the slot.
        this.#permits.wait(record);
        return;
      }
      const running: Running = {
        controller: new Interrupter(),
        byApp: false,
        distributor: record.distributor,
        record,
      };
      this.#running.set(id, running);
      // A memory node's distributor counts a crash against a job only while it runs: every
      // start is told, and written to the socket before the job runs (a poison job may take
      // the process down at once). The turn's starts leave in its one write.
      if (!durable) {
        const link = this.#linkById.get(record.distributor);
        if (link !== undefined) {
          await link.noteStart(id); // one promise per turn's write, shared by its starts
          const go = this.#mayRunOnceTold(id, record, running, link);
          if (go !== true) return void (await go);
        }
      }
      // The record is this attempt's own (handed over by #receive or freshly loaded): marked
      // in place, one copy per job fewer.
      if (!marked) markStarted(record, this.#clock.now());
      // The "in progress" mark matters only to a storage that outlives the process (a restart
      // re-runs such jobs); in memory it would be a record copy per job for nobody to read.
      if (durable && !marked) {
        try {
          const storage = this.#storage;
          await (storage.markStarted ? storage.markStarted(record) : storage.save(record));
        } catch (err) {
          this.#running.delete(id);
          this.#storageSync.failed(err, id);
          this.#retryLater(id);
          return;
        }
      }
      this.emit('job:start', record);
      let outcome: AttemptOutcome;
      try {
        const runOpts: RunAttemptOptions = {
          node: this.name,
          clock: this.#clock,
          signal: running.controller.signal,
          mergeJobItselfToArgs: this.#mergeJobItself,
          log: this.#jobLog,
          blockWatch: this.#blockWatch,
          progress: this.#onProgress,
        };
        if (record.timeout !== undefined) runOpts.timeoutMs = record.timeout;
        const tracing = this.#tracing;
        const run =
          tracing === undefined
            ? this.#attempt(def, record, runOpts)
            : tracing.attempt(record, async () => this.#attempt(def, record, runOpts));
        // A synchronous chain's outcome comes as it is: no promise to wait for.
        outcome = run instanceof Promise ? await run : run;
      } finally {
        this.#running.delete(id);
        this.#giveCredit(id);
      }
      if (running.controller.signal.reason instanceof Interrupted) return; // handed back, not finished
      // A kept finished job shows its last progress in lookups.
      if (running.progress !== undefined) record.progress = running.progress;
      // The attempt is over: its slot frees now, while the outcome is written. A durable
      // storage's write (a disk flush, a Redis round trip) no longer holds a slot, so the
      // slots are not idle for a write per job. Nothing is reported before it is written.
      this.#settling++;
      void this.#settle(
        record,
        sendableOutcome(record, outcome),
        slot,
        running.byApp,
        def.options,
        true,
      );
    } finally {
      this.#slots.ended(id);
    }
  }

  /** One attempt's chain: on the worker threads for `defer: true`, else on this loop. */
  #attempt(
    def: JobDefinition,
    record: JobRecord,
    runOpts: RunAttemptOptions,
  ): AttemptOutcome | Promise<AttemptOutcome> {
    const pool = record.defer === true ? this.#deferPool.get() : undefined;
    return pool ? pool.run(record, runOpts) : runAttemptNow(def, record, runOpts);
  }

  /**
   * Whether a job whose start its distributor was just told of (the note is written) runs
   * now. Not when it was cancelled or interrupted meanwhile (a cancel is settled here, the
   * promise), or its link went down (it waits, as any due job, until the distributor
   * confirms it).
   */
  #mayRunOnceTold(
    id: string,
    record: JobRecord,
    running: Running,
    link: DistributorLink,
  ): boolean | Promise<void> {
    const signal = running.controller.signal;
    if (signal.aborted) {
      this.#running.delete(id);
      if (!(signal.reason instanceof Interrupted))
        return this.#finishCancelled(record, running.byApp);
      return false;
    }
    // Asked again: the process may have been frozen between the note and its write, or the
    // link dropped; a job of a link that is no longer fresh waits to be confirmed.
    if (link.ready && this.#ownership.mayStart(record)) return true;
    this.#running.delete(id);
    if (!link.ready) this.#ownership.mayStart(record);
    return false;
  }

  /**
   * `counted`: the attempt's end counted in #settling, which this uncounts when done (a
   * stop() may wait for it); a failure is then logged here rather than rejected (one
   * promise per job, not a chain of three).
   */
  async #settle(
    record: JobRecord,
    outcome: AttemptOutcome,
    slot: number,
    byApp: boolean,
    defaults: ResolvedJobOptions | undefined,
    counted = false,
  ): Promise<void> {
    try {
      const t = settleOutcome(record, outcome, slot, this.#clock.now(), this.#rules.for(defaults));
      const fb = t.feedback;
      if (fb && byApp) fb.byApp = true;
      if (this.#disowned.delete(record.id)) {
        // Taken back by its distributor while it ran: its outcome is reported (the first final
        // feedback wins there), but it is neither kept nor run again here.
        void this.#storage.remove(record.id).catch(() => {});
        if (fb) await this.#outbox.push(fb);
        return;
      }
      if (!this.#storage.durable && t.next !== undefined && !fb) {
        // A retry waits: not running any more, as far as a crash of this node goes.
        this.#linkById.get(record.distributor)?.stopped(record.id, t.record.attempt);
      }
      const save = t.store === 'save';
      let fbStored = false;
      try {
        if (fb && this.#storage.durable && this.#storage.finish) {
          await this.#storage.finish(record.id, save ? t.record : undefined, fb);
          fbStored = true;
        } else await (save ? this.#storage.save(t.record) : this.#storage.remove(t.record.id));
      } catch (err) {
        // Refused by the fence: the job is another node's now, which reports it (no stale feedback).
        if (err instanceof LeaseLostError) return this.#storageSync.failed(err, record.id);
        // Kept and replayed when the storage returns, so a finished job is not re-run later.
        // (The outbox keeps the feedback on its own.)
        // (A function only now, when it is needed: none per job otherwise.)
        this.#storageSync.remember(
          record.id,
          save ? () => this.#storage.save(t.record) : () => this.#storage.remove(t.record.id),
        );
        this.#storageSync.failed(err, record.id);
      }
      if (outcome.kind === 'success') this.emit('job:success', t.record);
      else if (outcome.kind === 'cancelled') this.emit('job:cancelled', t.record);
      else if (t.next !== undefined) {
        const e = outcome.error;
        this.#log.info(
          { jobId: t.record.id, name: t.record.name, attempt: record.attempt, code: e.code },
          `job ${t.record.name} (${t.record.id}) attempt ${record.attempt} failed: ${e.code}: ${logExcerpt(e.message)}; runs again in ${Math.max(0, t.record.dueAt - this.#clock.now())} ms`,
        );
        this.emit('job:retry', t.record, e);
      } else {
        const e = outcome.error;
        this.#log.warn(
          { jobId: t.record.id, name: t.record.name, attempt: t.record.attempt, code: e.code },
          `job ${t.record.name} (${t.record.id}) failed: ${e.code}: ${logExcerpt(e.message)}`,
        );
        this.emit('job:failed', t.record, e);
      }
      if (t.next !== undefined) this.#schedule(t.record);
      else {
        this.#lease.known.delete(record.id);
        const status = t.record.status;
        if (save && isKeptStatus(status)) {
          this.#kept.add(record.id, status, t.record.updatedAt);
        }
      }
      if (fb) {
        const sent = this.#outbox.push(fb, fbStored);
        if (sent !== undefined) await sent;
      }
    } catch (err) {
      if (!counted) throw err;
      this.#log.error({ err, jobId: record.id }, 'settling a job failed');
    } finally {
      if (counted && --this.#settling === 0) this.#idle.wake();
    }
  }

  /** The kept finished jobs found at start, oldest first (their retention index). */
  #indexKept(records: JobRecord[]): void {
    records.sort((a, b) => a.updatedAt - b.updatedAt);
    for (const r of records)
      if (isKeptStatus(r.status)) this.#kept.add(r.id, r.status, r.updatedAt);
  }

  /** Kept finished jobs past their retention (`keep`): removed from the storage. */
  #evictKept(ids: string[]): void {
    for (const id of ids) {
      void this.#storage.remove(id).catch((err: unknown) => this.#storageSync.failed(err, id));
    }
  }

  /**
   * The storage failed before the attempt started: the job is still stored as it was, so
   * try again in a second (its slot goes back to the distributor meanwhile).
   */
  #retryLater(id: string): void {
    this.#giveCredit(id);
    if (this.#state === 'running') this.#timers.add(id, this.#clock.now() + STORAGE_RETRY_MS);
  }

  #giveCredit(id: string): void {
    const link = this.#creditOwed.take(id);
    if (link?.ready) link.giveCredit();
  }

  #finishUnknown(record: JobRecord): void {
    this.#giveCredit(record.id);
    this.#lease.known.delete(record.id);
    const fb = unknownJobFeedback(record);
    void this.#storage
      .remove(record.id)
      .catch(() => {})
      .then(() => this.#outbox.push({ ...fb, node: this.name, distributor: record.distributor }));
  }

  async #finishCancelled(record: JobRecord, byApp: boolean): Promise<void> {
    this.#giveCredit(record.id);
    const outcome: AttemptOutcome = { kind: 'cancelled', args: record.args, inErrback: false };
    await this.#settle(record, outcome, record.dueAt, byApp, undefined);
  }

  // ---- cancel ----------------------------------------------------------------------

  async #cancel(id: string): Promise<boolean> {
    const running = this.#running.get(id);
    if (running) {
      running.byApp = true;
      running.controller.abort(new CancelJob('cancelled by the application'));
      return true;
    }
    const saving = this.#saving.get(id);
    if (saving) {
      saving.cancel = true;
      return true;
    }
    const awaiting = this.#permits.take(id);
    const inReady =
      this.#slots.remove(id) ??
      this.#ownership.remove(id) ??
      (awaiting === undefined ? undefined : { id, record: awaiting });
    const inTimer = this.#unschedule(id);
    if (!inReady && !inTimer) return false;
    const record =
      (inReady ? inReady.record : undefined) ??
      (await this.#storage.load(id).catch(() => undefined));
    if (!record) return false;
    await this.#finishCancelled(record, true);
    return true;
  }

  // ---- ownership (durable storage with a lease on the node's name) ------------------

  /** The gate right before an attempt starts (see NodeOwnership.allows). */
  #leaseAllows(id: string, record: JobRecord, marked: boolean): boolean {
    return this.#lease.allows(id, record, marked);
  }

  #ownershipHost(): OwnershipHost {
    return {
      name: this.name,
      instance: this.instance,
      log: this.#log,
      storage: this.#storage,
      outbox: this.#outbox,
      active: () => this.#state === 'running' || this.#state === 'starting',
      accepts: (name) => this.#registry.has(name),
      schedule: (record) => this.#schedule(record),
      run: (entries) => this.#slots.pushAll(entries),
      settle: (record, outcome) =>
        void this.#settle(
          record,
          outcome,
          record.dueAt,
          false,
          this.#registry.get(record.name)?.options,
        ),
      forget: (id) => {
        this.#unschedule(id);
        this.#slots.remove(id);
        this.#giveCredit(id);
        this.#running.get(id)?.controller.abort(new Interrupted('job no longer in storage'));
      },
      forgetAll: () => {
        this.#timers.clear();
        this.#timerPriority.clear();
        this.#slots.clear();
      },
      saving: (id) => this.#saving.has(id),
      storageUp: () => this.#status.accepting,
      stopAccepting: () => {
        this.#status.accepting = false;
        this.#status.broadcast();
      },
      storageFailed: (err, id) => this.#storageSync.failed(err, id),
      emit: (event, ...args) => this.emit(event, ...args),
    };
  }

  protected override onListenerError(event: string, err: unknown): void {
    this.#log.error({ err, event }, 'node event listener threw');
  }
}

/** Creates a node and starts it. */
export async function startNode(options: NodeOptions): Promise<WorkerNode> {
  return new WorkerNode(options).start();
}
