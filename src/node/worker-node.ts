import {
  CancelJob,
  ClosedError,
  DuplicateNodeError,
  InvalidArgumentError,
  LeaseLostError,
  ShutdownError,
} from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { ownedCopy, randomId } from '../model/ids.ts';
import { FINAL_STATUSES, type JobRecord, type JobSpec } from '../model/job.ts';
import { silentLogger, type Logger } from '../model/logger.ts';
import { assertNodeName } from '../model/names.ts';
import { TypedEmitter } from '../model/typed-emitter.ts';
import type { Message } from '../protocol/messages.ts';
import { firstDue, isRecurring } from '../scheduling/schedule.ts';
import { TimerQueue } from '../scheduling/timer-queue.ts';
import type { JobStorage } from '../storage/job-storage.ts';
import { createStorage } from '../storage/create-storage.ts';
import type { DistributorLink } from './distributor-link.ts';
import { DeferPool } from './defer-pool.ts';
import { FeedbackOutbox } from './feedback-outbox.ts';
import { LinkBatcher } from './link-batcher.ts';
import { defaultRegistry, type JobRegistry, type ResolvedJobOptions } from './job-registry.ts';
import {
  markStarted,
  newRecord,
  sendableOutcome,
  settleOutcome,
  unknownJobFeedback,
} from './job-lifecycle.ts';
import { loadJobDirectory } from './job-loader.ts';
import {
  Interrupter,
  runAttempt,
  type AttemptOutcome,
  type RunAttemptOptions,
} from './job-runner.ts';
import { IdleWaiter } from './idle-waiter.ts';
import { NodeOwnership, type OwnershipHost } from './node-ownership.ts';
import { LifecycleRulesCache } from './lifecycle-rules.ts';
import { createDistributorLinks } from './node-links.ts';
import { ReadyQueue } from './ready-queue.ts';
import { resumeStoredJobs } from './resume-jobs.ts';
import { StatusAnnouncer } from './status-announcer.ts';
import { StorageSync, asStorageError } from './storage-sync.ts';
import type { NodeEvents } from './node-events.ts';
import { NODE_DEFAULTS, type NodeOptions } from './node-options.ts';

/** How long a job waits before trying again when the storage failed to load or mark it. */
const STORAGE_RETRY_MS = 1000;

/** Why a running attempt was aborted by the node itself (not a failure of the job). */
class Interrupted extends ShutdownError {}

interface Running {
  /** Stops the attempt (cancel, shutdown); a plain object, not an AbortController (cost per job). */
  controller: Interrupter;
  byApp: boolean;
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
  readonly #opts: NodeOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #storage: JobStorage;
  readonly #registry: JobRegistry;
  readonly #concurrency: number;
  readonly #rules: LifecycleRulesCache;
  readonly #mergeJobItself: boolean;
  readonly #links: DistributorLink[];
  readonly #timers: TimerQueue<string>;
  readonly #ready = new ReadyQueue();
  readonly #running = new Map<string, Running>();
  /** Jobs received and being written; a cancel that arrives meanwhile is noted here. */
  readonly #saving = new Map<string, { cancel: boolean }>();
  /** Instant jobs whose first attempt will give a credit back to their link. */
  readonly #creditOwed = new Map<string, DistributorLink>();
  readonly #outbox: FeedbackOutbox;
  readonly #batcher = new LinkBatcher();
  #active = 0;
  /** Whether the node takes jobs, and which: told to the distributors. */
  readonly #status: StatusAnnouncer;
  /** Failed storage operations: reported, and writes replayed when the storage returns. */
  readonly #storageSync: StorageSync;
  readonly #deferPool: DeferPool;
  #stopWatchingRegistry: (() => void) | undefined;
  readonly #idle = new IdleWaiter();
  /** Owning durable jobs through the storage's lease (see node-ownership.ts). */
  readonly #ownership: NodeOwnership;

  constructor(options: NodeOptions) {
    super();
    assertNodeName(options.name);
    this.name = options.name;
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#storage = createStorage(options.storage ?? 'memory', {
      ...(options.redisPrefix !== undefined ? { prefix: options.redisPrefix } : {}),
      ...(options.leaseTtlMs !== undefined ? { leaseTtlMs: options.leaseTtlMs } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    });
    const maxDeliveries = options.maxDeliveries ?? NODE_DEFAULTS.maxDeliveries;
    if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1) {
      throw new InvalidArgumentError(
        `maxDeliveries must be a whole number ≥ 1 (got ${maxDeliveries})`,
      );
    }
    this.#storageSync = new StorageSync(this.#log, (error) => this.emit('storage:error', error));
    this.#outbox = new FeedbackOutbox(this.#storage, (err, key) =>
      this.#storageSync.failed(err, key),
    );
    this.#registry = options.registry ?? defaultRegistry;
    this.#ownership = new NodeOwnership(this.#ownershipHost(), maxDeliveries);
    const concurrency = options.concurrency ?? NODE_DEFAULTS.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InvalidArgumentError(`concurrency must be a whole number ≥ 1 (got ${concurrency})`);
    }
    this.#concurrency = concurrency;
    if (!Array.isArray(options.distributors)) {
      throw new InvalidArgumentError('distributors must be a list of host:port addresses');
    }
    this.#mergeJobItself = options.mergeJobItselfToArgs ?? NODE_DEFAULTS.mergeJobItselfToArgs;
    this.#rules = new LifecycleRulesCache(options);
    this.#deferPool = new DeferPool({
      jobDirectory: options.jobDirectory,
      threads: options.threads,
      log: this.#log,
    });
    this.#timers = new TimerQueue<string>({
      clock: this.#clock,
      onDue: (id) => {
        this.#ready.push({ id });
        this.#pump();
      },
      onError: (err) => this.#log.error({ err }, 'timer callback failed'),
    });
    const hello = () => ({
      node: this.name,
      instance: this.instance,
      capacity: this.#concurrency,
      durable: this.#storage.durable,
      jobs: this.#registry.names(),
    });
    this.#links = createDistributorLinks(options, hello, this.#log, {
      onReady: (link) => this.#onLinkReady(link),
      onMessage: (link, m) => this.#onMessage(link, m),
      onDown: (link, reason) => {
        this.#batcher.forget(link);
        this.emit('distributor:disconnected', link.address, reason);
      },
      onRejected: (link, error) => {
        this.#log.error({ address: link.address, code: error.code }, error.message);
        this.emit('distributor:rejected', link.address, error);
      },
    });
    this.#status = new StatusAnnouncer(
      this.#links,
      this.#registry,
      () => this.#state === 'running',
    );
  }

  get state(): string {
    return this.#state;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#active;
  }

  /** Opens the storage, loads job files, resumes stored jobs, then dials the distributors. */
  async start(): Promise<this> {
    if (this.#state !== 'created')
      throw new ClosedError(`cannot start a node that is ${this.#state}`);
    this.#state = 'starting';
    this.#storage.owner = this.#ownership;
    try {
      await this.#storage.open(this.name);
    } catch (err) {
      if (err instanceof DuplicateNodeError) this.#log.error({ code: err.code }, err.message);
      throw err;
    }
    this.#storage.onStatusChange = (up) => this.#onStorageStatus(up);
    if (this.#opts.jobDirectory !== undefined) await loadJobDirectory(this.#opts.jobDirectory);
    if (this.#storage.durable && (this.#opts.retryJobsAtStart ?? NODE_DEFAULTS.retryJobsAtStart)) {
      await resumeStoredJobs(
        this.#storage,
        (r) => this.#ownership.takeStored(r),
        this.#log,
        this.name,
      );
    }
    await this.#outbox.restore();
    this.#state = 'running';
    this.#stopWatchingRegistry = this.#registry.onDefine(() => this.#status.jobsChanged());
    this.#pump(); // jobs resumed from storage that are already due
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
    this.#ready.clear();
    await this.#idle.until(() => this.#active === 0, deadline);
    if (this.#active > 0) {
      for (const r of this.#running.values()) r.controller.abort(new Interrupted('node stopping'));
      await this.#idle.until(() => this.#active === 0, Date.now() + 1000);
    }
    await this.#deferPool.close();
    await this.#idle.until(() => !this.#outbox.deliverable, deadline);
    for (const link of this.#links) link.stop();
    await this.#storage.close();
    this.#state = 'stopped';
    this.emit('stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- links -----------------------------------------------------------------------

  #onLinkReady(link: DistributorLink): void {
    this.#status.linkReady(link);
    this.emit('distributor:connected', link.address, link.distributorId ?? '');
    this.#outbox.linkReady(link);
  }

  #onMessage(link: DistributorLink, m: Message): void {
    switch (m.t) {
      case 'job':
        this.#receive(link, m.job);
        return;
      case 'fback':
        this.#outbox.acked(m.keys);
        return;
      case 'cancel':
        void this.#cancel(m.id).then((ok) => link.send({ t: 'cancelled', req: m.req, ok }));
        return;
      default:
        this.#log.warn({ type: m.t, address: link.address }, 'unexpected message from distributor');
    }
  }

  /** Storage went away or came back: pause or resume taking jobs, replay failed writes. */
  #onStorageStatus(up: boolean): void {
    if (this.#state !== 'running' || up === this.#status.accepting || this.#ownership.isLost)
      return;
    this.#status.accepting = up;
    this.#log.warn(
      { storageUp: up },
      up ? 'storage is back: taking jobs again' : 'storage is down: not taking jobs',
    );
    this.emit('storage:status', up);
    this.#status.broadcast();
    if (up) this.#storageSync.replay();
  }

  // ---- receiving -------------------------------------------------------------------

  #receive(link: DistributorLink, spec: JobSpec, looked = false): void {
    const now = this.#clock.now();
    if (this.#state !== 'running') {
      link.send({
        t: 'rejected',
        ids: [spec.id],
        error: new ShutdownError('node is stopping').toInfo(),
      });
      return;
    }
    if (this.#holds(spec.id)) {
      // A second delivery of a job we already hold (the distributor re-sent it).
      this.#batcher.accepted(link, spec.id);
      return;
    }
    if (!looked && spec.delivery > 1 && this.#storage.durable)
      return this.#receiveAgain(link, spec);
    const instant = !isRecurring(spec) && spec.runAt <= now;
    // A waiting job's id is a key of the storage and timer maps for as long as it waits.
    const id = instant ? spec.id : ownedCopy(spec.id);
    const record = newRecord(spec, id, this.name, this.#firstDue(spec, now), now);
    if (this.#storage.durable) this.#ownership.known.add(record);
    if (instant) this.#creditOwed.set(spec.id, link);
    if (instant && !this.#storage.durable) {
      // A memory storage is read back only for jobs that wait (timer, retry); an instant job
      // goes straight to the ready queue with its record, and is stored only if it must wait
      // again or be kept once finished. Nothing is lost: the distributor keeps a memory
      // node's jobs until their final feedback.
      this.#batcher.accepted(link, spec.id);
      if (!this.#registry.has(spec.name)) return void this.#finishUnknown(record);
      this.#schedule(record);
      return;
    }
    // An instant job that has a free slot is stored already marked "in progress", its slot
    // held meanwhile: one write per job instead of two (stored, then marked at start).
    const startsNow =
      instant &&
      this.#active < this.#concurrency &&
      this.#ready.size === 0 &&
      this.#registry.has(spec.name);
    if (startsNow) {
      markStarted(record, now);
      this.#active++;
    }
    const saving = { cancel: false };
    this.#saving.set(spec.id, saving);
    this.#storage.save(record).then(
      () => {
        this.#saving.delete(spec.id);
        this.#batcher.accepted(link, spec.id);
        if (startsNow) {
          if (saving.cancel || this.#state !== 'running') this.#release();
          else return void this.#runOne(id, record, true).finally(() => this.#release());
        }
        if (saving.cancel) return void this.#finishCancelled(record, true);
        if (!this.#registry.has(spec.name)) return void this.#finishUnknown(record);
        // (A reserved job whose node is stopping stays stored as "in progress": a restart
        // runs it.)
        if (!startsNow) this.#schedule(record);
      },
      (err: unknown) => {
        if (startsNow) this.#release();
        this.#saving.delete(spec.id);
        this.#ownership.known.delete(spec.id);
        this.#creditOwed.delete(spec.id);
        const error = asStorageError(err, 'could not store the job');
        this.emit('storage:error', error);
        link.send({ t: 'rejected', ids: [spec.id], error: error.toInfo() });
      },
    );
  }

  /**
   * A re-sent job (delivery > 1) may be stored here already: this node took it but died
   * before its "accepted" left, or adopted it. The stored record stays (with its crash
   * count, so a poison job cannot reset it by being re-sent); otherwise it is a new job.
   */
  #receiveAgain(link: DistributorLink, spec: JobSpec): void {
    this.#storage.load(spec.id).then(
      (stored) => {
        if (stored === undefined) return this.#receive(link, spec, true);
        this.#batcher.accepted(link, spec.id);
        if (!FINAL_STATUSES.has(stored.status) && !this.#holds(spec.id))
          this.#ownership.takeStored(stored);
      },
      () => this.#receive(link, spec, true),
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
      this.#saving.has(id) || this.#running.has(id) || this.#timers.has(id) || this.#ready.has(id)
    );
  }

  #schedule(record: JobRecord): void {
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    if (record.dueAt <= this.#clock.now()) {
      this.#ready.push({ id: record.id, record });
      this.#pump();
    } else {
      this.#timers.add(record.id, record.dueAt);
    }
  }

  // ---- running ---------------------------------------------------------------------

  #pump(): void {
    while (this.#state === 'running' && this.#active < this.#concurrency && this.#ready.size > 0) {
      const entry = this.#ready.take()!;
      this.#active++;
      void this.#runOne(entry.id, entry.record, entry.marked).finally(() => this.#release());
    }
  }

  /** A run slot is free again. */
  #release(): void {
    this.#active--;
    if (this.#active === 0) this.#idle.wake(); // a stop() may be waiting for this
    this.#pump();
  }

  /** `marked`: the record was stored already marked as started (see #receive). */
  async #runOne(id: string, given: JobRecord | undefined, marked = false): Promise<void> {
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
    if (!this.#leaseAllows(id, record, marked)) return;
    const slot = record.dueAt;
    // The record is this attempt's own (handed over by #receive or freshly loaded): marked
    // in place, one copy per job fewer.
    if (!marked) markStarted(record, this.#clock.now());
    const running: Running = { controller: new Interrupter(), byApp: false };
    this.#running.set(id, running);
    // The "in progress" mark matters only to a storage that outlives the process (a restart
    // re-runs such jobs); in memory it would be a record copy per job for nobody to read.
    if (this.#storage.durable && !marked) {
      try {
        await this.#storage.save(record);
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
        log: this.#log,
      };
      if (record.timeout !== undefined) runOpts.timeoutMs = record.timeout;
      const pool = record.defer === true ? this.#deferPool.get() : undefined;
      outcome = pool ? await pool.run(record, runOpts) : await runAttempt(def, record, runOpts);
    } finally {
      this.#running.delete(id);
      this.#giveCredit(id);
    }
    if (running.controller.signal.reason instanceof Interrupted) return; // handed back, not finished
    await this.#settle(record, sendableOutcome(record, outcome), slot, running.byApp, def.options);
  }

  async #settle(
    record: JobRecord,
    outcome: AttemptOutcome,
    slot: number,
    byApp: boolean,
    defaults: ResolvedJobOptions | undefined,
  ): Promise<void> {
    const t = settleOutcome(record, outcome, slot, this.#clock.now(), this.#rules.for(defaults));
    const fb = t.feedback;
    if (fb && byApp) fb.byApp = true;
    const write =
      t.store === 'save'
        ? () => this.#storage.save(t.record)
        : () => this.#storage.remove(t.record.id);
    let fbStored = false;
    try {
      if (fb && this.#storage.durable && this.#storage.finish) {
        await this.#storage.finish(record.id, t.store === 'save' ? t.record : undefined, fb);
        fbStored = true;
      } else await write();
    } catch (err) {
      // Refused by the fence: the job is another node's now, which reports it (no stale feedback).
      if (err instanceof LeaseLostError) return this.#storageSync.failed(err, record.id);
      // Kept and replayed when the storage returns, so a finished job is not re-run later.
      // (The outbox keeps the feedback on its own.)
      this.#storageSync.remember(record.id, write);
      this.#storageSync.failed(err, record.id);
    }
    if (outcome.kind === 'success') this.emit('job:success', t.record);
    else if (outcome.kind === 'cancelled') this.emit('job:cancelled', t.record);
    else if (t.next !== undefined) this.emit('job:retry', t.record, outcome.error);
    else this.emit('job:failed', t.record, outcome.error);
    if (t.next !== undefined) this.#schedule(t.record);
    else this.#ownership.known.delete(record.id);
    if (fb) await this.#outbox.push(fb, fbStored);
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
    const link = this.#creditOwed.get(id);
    if (!link) return;
    this.#creditOwed.delete(id);
    if (link.ready) this.#batcher.credit(link);
  }

  #finishUnknown(record: JobRecord): void {
    this.#giveCredit(record.id);
    this.#ownership.known.delete(record.id);
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
    const inReady = this.#ready.remove(id);
    const inTimer = this.#timers.remove(id);
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
    return this.#ownership.allows(id, record, marked);
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
      run: (entries) => {
        for (const entry of entries) this.#ready.push(entry);
        this.#pump();
      },
      settle: (record, outcome) =>
        void this.#settle(
          record,
          outcome,
          record.dueAt,
          false,
          this.#registry.get(record.name)?.options,
        ),
      forget: (id) => {
        this.#timers.remove(id);
        this.#ready.remove(id);
        this.#giveCredit(id);
        this.#running.get(id)?.controller.abort(new Interrupted('job no longer in storage'));
      },
      forgetAll: () => {
        this.#timers.clear();
        this.#ready.clear();
      },
      saving: (id) => this.#saving.has(id),
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
